"""Competition bundles: export a competition as one zip (competition.yaml + files with their
sha256), import it on another server. A round trip scores the same entry identically; a bad
bundle is refused with every problem listed and nothing stored (rows or files). Access as an
anonymous visitor, a participant, this competition's host, another competition's host and staff."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from podium.competitions.models import AuditEvent, Competition, Dataset, Phase
from tests.conftest import _api_client
from tests.factories.accounts import make_user
from tests.factories.competitions import make_competition, make_participations
from tests.factories.submissions import competition_test_ids
from tests.platform.competitions.competition_helpers import media_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def cup(alice, admin_user):
    """iris-cup with a second metric column, a corrected answer key (so a rebuilt key would
    differ), a finished first phase and an open final phase on its own split of the data."""
    from podium.competitions import services

    competition = make_competition("iris-cup", extra_metrics=["macro_f1"], rules="Be fair.", daily_limit=4)
    key = competition.answer_key.open("rb").read().decode().splitlines()
    first_id = key[1].split(",")[0]
    labels = (
        competition.dataset.files.get(name="test_labels.csv").file.open("rb").read().decode().splitlines()
    )
    header, rows = labels[0], labels[1:]
    classes = competition.dataset.manifest["classes"]
    flipped = [
        f"{r.split(',')[0]},{classes[(classes.index(r.split(',')[1]) + 1) % len(classes)]}"
        if r.split(",")[0] == first_id
        else r
        for r in rows
    ]
    services.competition_correct_answer_key(
        competition=competition, labels=("\n".join([header, *flipped]) + "\n").encode(), actor=admin_user
    )
    Phase.objects.filter(competition=competition, number=1).update(
        ends_at=timezone.now() - timedelta(hours=1)
    )
    services.phase_create(
        competition=competition,
        slug="final",
        title="Final",
        dataset=competition.dataset,
        split_seed=7,
        public_fraction=0.5,
        daily_limit=2,
        late_entries=True,
    )
    make_participations(competition, alice)
    competition.refresh_from_db()
    return competition


@pytest.fixture
def host(cup, admin_user):
    from podium.competitions.services import competition_host_add

    user = make_user("hannah")
    competition_host_add(competition=cup, user=user, added_by=admin_user)
    return user


@pytest.fixture
def other_host(cup, admin_user):
    from podium.competitions.services import competition_host_add

    other = make_competition("wine-cup", dataset="wine")
    user = make_user("oscar")
    competition_host_add(competition=other, user=user, added_by=admin_user)
    return user


def export(client, slug="iris-cup") -> bytes:
    answer = client.get(f"/api/competitions/{slug}/bundle/")
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"] == "application/zip"
    return b"".join(answer.streaming_content) if answer.streaming else answer.content


def import_(client, data: bytes, **query):
    upload = io.BytesIO(data)
    upload.name = "bundle.zip"
    path = "/api/competitions/import/" + (f"?slug={query['slug']}" if "slug" in query else "")
    return client.post(path, {"file": upload}, format="multipart")


def rewrite(data: bytes, *, drop=(), replace=None, add=None, description=None) -> bytes:
    """The bundle with members dropped, replaced or added, or its YAML edited by `description`."""
    replace, add = dict(replace or {}), dict(add or {})
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            if name in drop:
                continue
            body = replace.get(name, source.read(name))
            if name == "competition.yaml" and description is not None:
                body = description(yaml.safe_load(body))
                body = body if isinstance(body, bytes) else yaml.safe_dump(body).encode()
            target.writestr(name, body)
        for name, body in add.items():
            target.writestr(name, body)
    return out.getvalue()


def delete_everywhere(competition) -> None:
    """What a fresh server lacks: the competition and its datasets (rows; files stay on disk)."""
    datasets = {
        competition.dataset_id,
        *competition.phases.exclude(dataset=None).values_list("dataset", flat=True),
    }
    competition.delete()
    Dataset.objects.filter(pk__in=datasets).delete()


def score_entry(client, slug: str, body: bytes) -> tuple[float, float, dict]:
    from podium.submissions.models import Submission
    from podium.submissions.services import submission_score

    upload = io.BytesIO(body)
    upload.name = "p.csv"
    answer = client.post(f"/api/competitions/{slug}/submissions/", {"file": upload}, format="multipart")
    assert answer.status_code == 201, answer.content
    submission_score(submission_id=answer.json()["id"], attempt=1)
    entry = Submission.objects.get(pk=answer.json()["id"])
    assert entry.status == "scored", entry.error_message if hasattr(entry, "error_message") else entry.status
    return entry.public_score, entry.private_score, entry.extra_scores


def mixed_predictions(competition) -> bytes:
    classes = competition.dataset.manifest["classes"]
    ids = competition_test_ids(competition)
    return ("id,target\n" + "".join(f"{i},{classes[n % 3]}\n" for n, i in enumerate(ids))).encode()


# --- the round trip ----------------------------------------------------------------------------


def test_the_bundle_describes_the_competition_and_every_file_with_its_sha256(cup, admin_api):
    archive = zipfile.ZipFile(io.BytesIO(export(admin_api)))
    description = yaml.safe_load(archive.read("competition.yaml"))
    competition = description["competition"]
    assert competition["metric"] == "accuracy" and competition["extra_metrics"] == ["macro_f1"]
    assert competition["rules"] == "Be fair." and competition["daily_limit"] == 4
    assert (
        competition["split_seed"] == cup.split_seed and competition["public_fraction"] == cup.public_fraction
    )
    assert [(p["slug"], p["dataset"], p["split_seed"]) for p in description["phases"]] == [
        ("main", None, 0),
        ("final", {"slug": "iris", "version": cup.dataset.version}, 7),
    ]
    assert competition["answer_key"]["sha256"] == cup.answer_key_sha256  # the corrected key, as stored
    names = {f["name"]: f for f in description["datasets"][0]["files"]}
    assert names["test_labels.csv"]["hidden"] is True and not names["train.csv"]["hidden"]
    for entry in [
        *description["datasets"][0]["files"],
        competition["answer_key"],
        description["phases"][1]["answer_key"],
    ]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]


def test_a_round_trip_to_a_fresh_server_scores_the_same_entry_identically(
    cup, alice_api, admin_api, settings
):
    data = export(admin_api)
    body = mixed_predictions(cup)
    before = score_entry(alice_api, "iris-cup", body)
    keys = (cup.answer_key_sha256, cup.phases.get(slug="final").answer_key_sha256)
    delete_everywhere(cup)
    assert not Dataset.objects.filter(slug="iris").exists()

    answer = import_(admin_api, data)
    assert answer.status_code == 201, answer.content
    imported = Competition.objects.get(slug="iris-cup")
    assert imported.dataset.slug == "iris" and imported.extra_metrics == ["macro_f1"]
    assert (imported.answer_key_sha256, imported.phases.get(slug="final").answer_key_sha256) == keys
    assert (
        imported.phases.get(slug="final").late_entries and imported.phases.get(slug="final").daily_limit == 2
    )
    assert AuditEvent.objects.filter(competition=imported, action="competition_import").exists()
    make_participations(imported, imported.created_by.__class__.objects.get(username="alice"))
    after = score_entry(alice_api, "iris-cup", body)
    assert after == before and before[0] is not None and before[1] is not None


def test_an_import_under_another_slug_reuses_identical_datasets(cup, admin_api):
    data = export(admin_api)
    datasets = Dataset.objects.count()
    refused = import_(admin_api, data)
    assert refused.status_code == 400
    assert any("exists already" in p["message"] for p in refused.json()["problems"])
    answer = import_(admin_api, data, slug="iris-cup-2")
    assert answer.status_code == 201, answer.content
    copy = Competition.objects.get(slug="iris-cup-2")
    assert Dataset.objects.count() == datasets and copy.dataset_id == cup.dataset_id
    assert copy.answer_key_sha256 == cup.answer_key_sha256 and copy.phases.count() == 2


def test_a_changed_dataset_of_the_same_version_is_imported_as_a_new_version(cup, admin_api):
    data = export(admin_api)
    # The same slug and version here, with different files: the bundle's data is not this one.
    cup.dataset.files.filter(name="train.csv").update(sha256="0" * 64)
    answer = import_(admin_api, data, slug="iris-cup-2")
    assert answer.status_code == 201, answer.content
    copy = Competition.objects.get(slug="iris-cup-2")
    assert copy.dataset.slug == "iris" and copy.dataset.version == cup.dataset.version + 1


# --- bad bundles ---------------------------------------------------------------------------------


def _without_key(d):
    d["competition"]["metric"] = "bleu"
    return d


def _key_of_other_ids(data: bytes) -> bytes:
    """The competition's answer key replaced by one of ids the dataset lacks, its sha256 updated:
    the bundle is intact, but the key does not fit (found in the second pass, after the
    datasets were written)."""
    key = b"id,target,split\nnope-1,setosa,public\nnope-2,setosa,private\n"

    def edit(d):
        d["competition"]["answer_key"]["sha256"] = hashlib.sha256(key).hexdigest()
        return d

    return rewrite(data, replace={"answer_keys/competition.csv": key}, description=edit)


def _phase_without_key(d):
    d["phases"][1]["answer_key"] = None
    return d


def _with(**fields):
    def edit(d):
        d["competition"].update(fields)
        return d

    return edit


BAD = {
    "a Python object tag": (
        lambda data: rewrite(data, description=lambda d: b"!!python/object/apply:os.system ['echo owned']\n"),
        "not readable YAML",
    ),
    "a field of the wrong type": (
        lambda data: rewrite(data, description=_with(public_fraction="half")),
        "between 0 and 1",
    ),
    "a date that is not one": (
        lambda data: rewrite(data, description=_with(ends_at="next Tuesday")),
        "is not a date and time",
    ),
    "an answer key that does not fit": (_key_of_other_ids, "its ids are not the test ids of dataset iris v1"),
    "a phase split without its key": (
        lambda data: rewrite(data, description=_phase_without_key),
        "answer key of this test split is missing",
    ),
    "missing file": (lambda data: rewrite(data, drop=["datasets/iris/v1/train.csv"]), "missing from the zip"),
    "sha256 mismatch": (
        lambda data: rewrite(data, replace={"answer_keys/competition.csv": b"id,target,split\n"}),
        "has sha256",
    ),
    "unknown metric": (lambda data: rewrite(data, description=_without_key), "unknown metric 'bleu'"),
    "not a mapping": (lambda data: rewrite(data, description=lambda d: b"- a\n- b\n"), "must be a mapping"),
    "not YAML": (lambda data: rewrite(data, description=lambda d: b"a: [b\n"), "not readable YAML"),
    "no description": (lambda data: rewrite(data, drop=["competition.yaml"]), "no competition.yaml"),
    "dot-dot path": (lambda data: rewrite(data, add={"../escape.csv": b"x"}), "'..'"),
    "decompression bomb": (
        lambda data: rewrite(data, add={"bomb.csv": b"0" * 20_000_000}),
        "decompression bomb",
    ),
    "not a zip": (lambda data: b"PK not really a zip", "not a readable zip"),
    "a window that cannot stand": (
        lambda data: rewrite(
            data,
            description=lambda d: {
                **d,
                "competition": {**d["competition"], "ends_at": d["competition"]["starts_at"]},
            },
        ),
        "end after it starts",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_bundle_is_refused_naming_the_problem_and_nothing_is_stored(case, cup, admin_api, settings):
    bad, message = BAD[case]
    data = bad(export(admin_api))
    delete_everywhere(cup)  # so that an import that went wrong would have made the datasets
    files, audit = media_files(settings), AuditEvent.objects.count()
    answer = import_(admin_api, data)
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["code"] == "invalid_bundle" and "nothing was stored" in body["detail"]
    assert any(message in p["message"] for p in body["problems"]), body
    assert not Competition.objects.exists() and not Dataset.objects.exists()
    assert media_files(settings) == files and AuditEvent.objects.count() == audit


def test_every_problem_of_a_bundle_is_listed_at_once(cup, admin_api):
    def several(d):
        d["competition"]["metric"] = "bleu"
        d["competition"]["extra_metrics"] = ["macro_f1", "nonsense"]
        d["phases"][1]["dataset"] = {"slug": "elsewhere", "version": 3}
        return d

    data = rewrite(
        export(admin_api),
        drop=["datasets/iris/v1/train.csv"],
        replace={"answer_keys/phase-2.csv": b"tampered"},
        description=several,
    )
    answer = import_(admin_api, data, slug="copy")
    assert answer.status_code == 400
    problems = answer.json()["problems"]
    paths = {p.get("path") for p in problems}
    assert {
        "competition.metric",
        "competition.extra_metrics[1]",
        "phases[1].dataset",
        "phases[1].answer_key",
        "datasets[0].files[3]",
    } <= paths, problems
    assert not Competition.objects.filter(slug="copy").exists()


def test_a_bad_slug_parameter_is_refused(cup, admin_api):
    answer = import_(admin_api, export(admin_api), slug="not a slug!")
    assert answer.status_code == 400 and "slug" in answer.json()


# --- access --------------------------------------------------------------------------------------


def test_export_is_for_this_competitions_hosts_and_staff(
    cup, host, other_host, anon_api, alice_api, admin_api
):
    assert anon_api.get("/api/competitions/iris-cup/bundle/").status_code in (401, 403)
    assert alice_api.get("/api/competitions/iris-cup/bundle/").status_code == 403  # a participant
    assert _api_client(other_host).get("/api/competitions/iris-cup/bundle/").status_code == 403
    assert export(_api_client(host))[:2] == b"PK"
    assert export(admin_api)[:2] == b"PK"
    assert admin_api.get("/api/competitions/no-such-cup/bundle/").status_code == 404


def test_a_drafts_bundle_is_not_found_for_those_who_cannot_see_it(cup, alice_api, anon_api):
    Competition.objects.filter(pk=cup.pk).update(is_published=False)
    assert alice_api.get("/api/competitions/iris-cup/bundle/").status_code == 404


def test_only_staff_import(cup, host, other_host, anon_api, alice_api, admin_api):
    data = export(admin_api)
    for client in (anon_api, alice_api, _api_client(host), _api_client(other_host)):
        assert import_(client, data, slug="copy").status_code in (401, 403)
    assert not Competition.objects.filter(slug="copy").exists()
    assert import_(admin_api, data, slug="copy").status_code == 201


def test_the_schema_documents_export_and_import(anon_api):
    schema = anon_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    export_op = schema["paths"]["/api/competitions/{slug}/bundle/"]["get"]
    assert export_op["operationId"] == "competitions_bundle_export"
    assert "application/zip" in export_op["responses"]["200"]["content"]
    import_op = schema["paths"]["/api/competitions/import/"]["post"]
    assert "multipart/form-data" in import_op["requestBody"]["content"]
    assert {"201", "400", "403", "413"} <= set(import_op["responses"])
    assert any(p["name"] == "slug" and p["in"] == "query" for p in import_op["parameters"])
