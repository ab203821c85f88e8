"""The read side of the competitions API, as anonymous visitor, participants and admin."""

from __future__ import annotations

import csv
import io
import re

import pytest

from podium.competitions.models import Participation
from tests.factories.competitions import make_competition, make_dataset

pytestmark = pytest.mark.django_db


def test_list_is_public_with_counts_and_status(anon_api, alice, bob):
    open_one = make_competition("iris-cup")
    make_competition("wine-soon", dataset="wine", starts=3, ends=10)
    make_competition("iris-old", starts=-20, ends=-2)
    from podium.competitions.services import competition_join

    competition_join(competition=open_one, user=alice)
    competition_join(competition=open_one, user=bob)

    body = anon_api.get("/api/competitions/").json()
    assert body["count"] == 3
    rows = {r["slug"]: r for r in body["results"]}
    assert rows["iris-cup"]["status"] == "open"
    assert rows["wine-soon"]["status"] == "upcoming"
    assert rows["iris-old"]["status"] == "past"
    assert rows["iris-cup"]["n_participants"] == 2
    assert rows["wine-soon"]["n_participants"] == 0
    assert rows["iris-cup"]["n_entries"] == 0
    assert rows["iris-cup"]["has_joined"] is False
    assert rows["iris-cup"]["accepted_kinds"] == ["predictions", "config"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=open", {"iris-cup"}),
        ("status=upcoming", {"wine-soon"}),
        ("status=past", {"diabetes-old"}),
        ("task_type=regression", {"diabetes-old"}),
        ("metric=macro_f1", {"wine-soon"}),
        ("search=WINE", {"wine-soon"}),
        ("search=diabetes", {"diabetes-old"}),
        ("dataset=iris", {"iris-cup"}),
    ],
)
def test_list_filters(anon_api, query, expected):
    make_competition("iris-cup")
    make_competition("wine-soon", dataset="wine", starts=3, ends=10, metric="macro_f1")
    make_competition("diabetes-old", dataset="diabetes", starts=-20, ends=-2, metric="rmse")
    body = anon_api.get(f"/api/competitions/?{query}").json()
    assert {r["slug"] for r in body["results"]} == expected


@pytest.mark.parametrize("query", ["status=soon", "task_type=ranking", "metric=bleu"])
def test_bad_filter_is_400_naming_it(anon_api, query):
    answer = anon_api.get(f"/api/competitions/?{query}")
    assert answer.status_code == 400
    assert query.split("=")[0] in answer.json()


def test_list_paginates_and_counts_in_constant_queries(alice_api, alice, bob, django_assert_max_num_queries):
    from podium.competitions.services import competition_join

    for i in range(5):
        c = make_competition(f"cup-{i}")
        competition_join(competition=c, user=alice)
        competition_join(competition=c, user=bob)
    # count + page, whatever the number of competitions and participants
    with django_assert_max_num_queries(2):
        body = alice_api.get("/api/competitions/?page_size=2").json()
    assert body["count"] == 5 and len(body["results"]) == 2 and body["next"]
    assert all(r["n_participants"] == 2 and r["has_joined"] for r in body["results"])
    last = alice_api.get("/api/competitions/?page_size=2&page=3").json()
    assert len(last["results"]) == 1 and last["next"] is None


def test_detail_shows_rules_budget_and_pretrain(anon_api):
    source = make_dataset("digits")
    make_competition(
        "fewshot",
        dataset="digits-faded-fewshot",
        daily_limit=3,
        total_limit=50,
        budget_epochs=12,
        budget_params=100_000,
        budget_seconds=90,
        accepts_predictions=False,
        pretrain_datasets=[source],
        rules="No external data.",
    )
    body = anon_api.get("/api/competitions/fewshot/").json()
    rules = body["rules"]
    assert rules["daily_limit"] == 3 and rules["total_limit"] == 50
    assert rules["daily_reset"] == "00:00 UTC"
    assert rules["next_daily_reset"].endswith("T00:00:00+00:00")
    assert rules["budget"] == {
        "epochs": 12,
        "parameters": 100_000,
        "seconds": 90,
        "max_variants": 1,
        "lab_daily_epochs": 1200,
    }
    assert rules["accepted_kinds"] == ["config"]
    assert rules["pretrain_datasets"] == ["digits"]
    assert rules["text"] == "No external data."
    assert body["higher_is_better"] is True
    assert body["n_public"] + body["n_private"] == 359
    assert body["has_joined"] is False


def test_unknown_competition_is_404(anon_api):
    assert anon_api.get("/api/competitions/nope/").status_code == 404


def test_draft_is_seen_by_staff_only(anon_api, alice_api, admin_api):
    make_competition("draft", is_published=False)
    for client in (anon_api, alice_api):
        assert client.get("/api/competitions/draft/").status_code == 404
        assert client.get("/api/competitions/").json()["count"] == 0
        assert client.get("/api/competitions/draft/data/").status_code == 404
    assert admin_api.get("/api/competitions/draft/").status_code == 200
    assert admin_api.get("/api/competitions/").json()["count"] == 1
    assert alice_api.post("/api/competitions/draft/join/").status_code == 404


def test_join_accepts_rules_once(alice_api, alice, iris_cup):
    first = alice_api.post("/api/competitions/iris-cup/join/", {"accept_rules": True}, format="json")
    assert first.status_code == 200 and first.json()["has_joined"] is True
    again = alice_api.post("/api/competitions/iris-cup/join/", {"accept_rules": True}, format="json")
    assert again.status_code == 200
    assert Participation.objects.filter(user=alice, competition=iris_cup).count() == 1
    assert Participation.objects.get(user=alice).accepted_rules_at is not None


def test_join_refused(anon_api, alice_api, iris_cup):
    assert anon_api.post("/api/competitions/iris-cup/join/").status_code in (401, 403)
    refused = alice_api.post("/api/competitions/iris-cup/join/", {"accept_rules": False}, format="json")
    assert refused.status_code == 400 and "rules" in refused.json()["detail"]
    assert Participation.objects.count() == 0


@pytest.mark.parametrize("body", [None, {}])
def test_join_without_an_explicit_acceptance_names_the_field(alice_api, iris_cup, body):
    refused = alice_api.post("/api/competitions/iris-cup/join/", body, format="json")
    assert refused.status_code == 400
    answer = refused.json()
    assert answer["code"] == "accept_rules"
    assert answer["problems"] == [{"message": "must be true to join", "path": "accept_rules"}]
    assert "accept_rules=true" in answer["detail"]
    assert Participation.objects.count() == 0


def test_late_join_gives_the_data_of_a_finished_competition(alice_api, alice):
    make_competition("over", starts=-10, ends=-1)
    assert alice_api.get("/api/competitions/over/data/train.csv").status_code == 403
    late = alice_api.post("/api/competitions/over/join/", {"accept_rules": True}, format="json")
    assert late.status_code == 200 and late.json()["status"] == "past" and late.json()["has_joined"]
    assert alice_api.get("/api/competitions/over/data/train.csv").status_code == 200


def test_data_card_lists_public_files_only(anon_api, iris_cup):
    body = anon_api.get("/api/competitions/iris-cup/data/").json()
    names = [f["name"] for f in body["files"]]
    assert names == ["sample_submission.csv", "test.csv", "train.csv"]
    assert "test_labels.csv" not in body["manifest"]["files"]
    assert body["manifest"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert body["dataset"]["rows"] == {"train": 112, "test": 38}
    assert body["can_download"] is False
    assert all(
        f["url"].startswith("http://testserver/api/competitions/iris-cup/data/") for f in body["files"]
    )
    # The CLI's alias answers the same.
    assert anon_api.get("/api/competitions/iris-cup/files/").json()["files"] == body["files"]


def test_download_needs_joining(anon_api, alice_api, bob_api, admin_api, alice, iris_cup):
    from podium.competitions.services import competition_join

    competition_join(competition=iris_cup, user=alice)
    assert anon_api.get("/api/competitions/iris-cup/data/train.csv").status_code in (401, 403)
    refused = bob_api.get("/api/competitions/iris-cup/data/train.csv")
    assert refused.status_code == 403 and "Join" in refused.json()["detail"]
    for client in (alice_api, admin_api):
        answer = client.get("/api/competitions/iris-cup/data/train.csv")
        assert answer.status_code == 200
        text = b"".join(answer.streaming_content).decode()
        assert text.startswith("id,sepal_length_cm") and text.count("\n") == 113
    assert alice_api.get("/api/competitions/iris-cup/data/test_labels.csv").status_code == 404
    assert admin_api.get("/api/competitions/iris-cup/data/test_labels.csv").status_code == 404
    assert alice_api.get("/api/competitions/iris-cup/data/..%2Fsecret").status_code == 404


def _sample(client, slug):
    answer = client.get(f"/api/competitions/{slug}/data/sample_submission.csv")
    assert answer.status_code == 200
    return list(csv.reader(io.StringIO(answer.content.decode())))


def test_sample_submission_follows_the_competition_metric(admin_api):
    make_competition("iris-acc", metric="accuracy")
    make_competition("iris-ll", metric="log_loss")
    make_competition("diabetes-mae", dataset="diabetes", metric="mae")
    labels = _sample(admin_api, "iris-acc")
    assert labels[0] == ["id", "target"] and labels[1][1] == "setosa" and len(labels) == 39
    proba = _sample(admin_api, "iris-ll")
    assert proba[0] == ["id", "setosa", "versicolor", "virginica"]
    assert abs(sum(float(v) for v in proba[1][1:]) - 1) < 1e-9
    assert _sample(admin_api, "diabetes-mae")[1][1] == "0"
    assert [r[0] for r in labels[1:]] == [r[0] for r in proba[1:]]


def test_datasets_list_detail_and_manifest(anon_api, iris_cup):
    listed = anon_api.get("/api/datasets/").json()
    assert [d["slug"] for d in listed["results"]] == ["iris"]
    detail = anon_api.get("/api/datasets/iris/").json()
    assert detail["versions"] == [1]
    assert {f["name"] for f in detail["files"]} == {"train.csv", "test.csv", "sample_submission.csv"}
    manifest = anon_api.get("/api/datasets/iris/manifest/").json()
    assert manifest["task_type"] == "classification" and manifest["input_shape"] == [4]
    assert "test_labels.csv" not in manifest["files"]
    assert anon_api.get("/api/datasets/nope/").status_code == 404
    assert anon_api.get("/api/datasets/iris/manifest/?version=7").status_code == 404


def test_schema_and_docs_render(anon_api):
    schema = anon_api.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/competitions/", "/api/competitions/{slug}/join/", "/api/datasets/", "/api/tokens/"):
        assert path + ":" in text
    docs = anon_api.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    # Swagger UI comes from our own static files (no CDN), and they are really served.
    html = docs.content.decode()
    assert "cdn." not in html and "jsdelivr" not in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    from django.test import Client

    for asset in assets:
        response = Client().get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, asset


def test_uploaded_dataset_of_a_draft_stays_private(anon_api, alice_api, admin_api):
    from podium.competitions.services import competition_update, dataset_create_from_upload

    train = b"id,f,label\n" + b"".join(f"{i},{i},{'ab'[i % 2]}\n".encode() for i in range(20))
    test = b"id,f,label\n" + b"".join(f"{i},{i},{'ab'[i % 2]}\n".encode() for i in range(20, 30))
    dataset = dataset_create_from_upload(
        train_file=train,
        test_file=test,
        slug="secret-set",
        title="Secret",
        task_type="classification",
        target_column="label",
    )
    draft = make_competition("secret-cup", dataset=dataset, is_published=False)
    for client in (anon_api, alice_api):
        assert client.get("/api/datasets/secret-set/").status_code == 404
        assert "secret-set" not in {d["slug"] for d in client.get("/api/datasets/").json()["results"]}
    assert admin_api.get("/api/datasets/secret-set/").status_code == 200
    competition_update(competition=draft, is_published=True)
    assert anon_api.get("/api/datasets/secret-set/manifest/").json()["classes"] == ["a", "b"]
