"""What a newcomer hit on the site (issue 17, part 8), each reproduced here first: through
Django's test client where a page's HTML says it, the API where the API says it too."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.web.entries import CONFIG, config_entry, scored_predictions_entry
from tests.web.factories import competition

pytestmark = pytest.mark.django_db


def _join(comp, user):
    from podium.competitions.services import competition_join

    competition_join(competition=comp, user=user)


def test_my_submissions_are_newest_first(client, alice):
    from podium.submissions.models import Submission

    comp = competition()
    _join(comp, alice)
    entries = [config_entry(comp, alice, epochs=0) for _ in range(3)]
    # Apart in time, the oldest last written: the order must come from created_at.
    base = timezone.now() - dt.timedelta(hours=1)
    for minutes, entry in zip((30, 10, 20), entries, strict=True):
        Submission.objects.filter(pk=entry.pk).update(created_at=base + dt.timedelta(minutes=minutes))
    client.force_login(alice)
    html = client.get("/c/iris-cup/submissions/").content.decode()
    shown = [int(pk) for pk in re.findall(r'data-submission="(\d+)"', html)]
    assert shown == [entries[0].pk, entries[2].pk, entries[1].pk]
    assert "newest first" in html


def test_a_scored_config_entry_says_epochs_time_parameters_and_how_it_ended(client, alice):
    from podium.submissions.models import Status, Submission

    comp = competition()
    _join(comp, alice)
    entry = config_entry(comp, alice, epochs=2)  # the config asks for 3
    started = timezone.now() - dt.timedelta(seconds=95)
    Submission.objects.filter(pk=entry.pk).update(
        status=Status.SCORED, started_at=started, finished_at=started + dt.timedelta(seconds=83)
    )
    client.force_login(alice)
    html = client.get(f"/submissions/{entry.pk}/").content.decode()
    facts = html[html.index('data-testid="status-facts"') :]
    assert "<dd>2 of 3</dd>" in facts
    assert re.search(r'data-testid="elapsed">1 min 23 s<', facts)
    # 4 inputs -> 16 -> 3 classes: 4*16+16 + 16*3+3 = 131 parameters.
    assert re.search(r'data-testid="parameters">131 of [\d,]+<', facts)
    assert "stopped after 2 of 3 epochs" in facts


def test_the_status_card_says_why_the_run_stopped_as_the_worker_reported(client, alice):
    from podium.submissions.models import Status, Submission

    comp = competition()
    _join(comp, alice)
    entry = config_entry(comp, alice, epochs=2)
    client.force_login(alice)
    for reason, said in (
        ("early_stopping", "early stopping after 2 of 3 epochs"),
        ("budget_seconds", "the time budget ended it after 2 of 3 epochs"),
        ("diverged", "the loss diverged after 2 of 3 epochs: predicted from its best epoch"),
    ):
        Submission.objects.filter(pk=entry.pk).update(
            status=Status.SCORED, training_report={"stopped_reason": reason}
        )
        html = client.get(f"/submissions/{entry.pk}/").content.decode()
        assert said in html[html.index('data-testid="status-facts"') :]


def test_a_running_entry_shows_elapsed_time_and_an_estimate(client, alice):
    from podium.submissions.models import Submission

    comp = competition()
    _join(comp, alice)
    entry = config_entry(comp, alice, epochs=1)  # 1 of 3 epochs in 40 s: about 80 s left
    Submission.objects.filter(pk=entry.pk).update(started_at=timezone.now() - dt.timedelta(seconds=40))
    client.force_login(alice)
    for url in (f"/submissions/{entry.pk}/", f"/submissions/{entry.pk}/status/?status=running&epochs=1"):
        html = client.get(url).content.decode()
        assert re.search(r'data-testid="elapsed">4\d s<', html), url
        assert re.search(r'data-testid="remaining">about 1 min 2\d s<', html), url


def test_config_templates_fit_the_competition(client, alice):
    """The editor offers the examples its competition accepts, epochs clamped to the budget:
    the breast-cancer template (60 epochs) was refused on iris (a budget of 8) as loaded, and
    the image and sequence templates were offered on tabular data."""
    from podium.competitions.selectors import competition_phase
    from podium.errors import ApplicationError
    from podium.submissions.validation import config_validate
    from podium.web import examples

    comp = competition()  # iris: 4 features, 3 classes; a budget of 8 epochs
    _join(comp, alice)
    offered = examples.templates_for(comp)
    everything = examples.templates()
    with pytest.raises(ApplicationError):
        config_validate(phase=competition_phase(competition=comp), text=everything["breast_cancer_mlp"])
    assert "epochs: 8" in offered["breast_cancer_mlp"]
    for image_or_sequence in ("digits_cnn", "residual_cnn", "conv1d_waveforms", "lstm_waveforms"):
        assert image_or_sequence in everything and image_or_sequence not in offered
    for name, text in offered.items():
        # Each one is accepted as offered.
        config_validate(phase=competition_phase(competition=comp), text=text)
        assert all(int(n) <= comp.budget_epochs for n in re.findall(r"^\s*epochs:\s*(\d+)", text, re.M)), name
    refused = [name for name, text in everything.items() if name not in offered]
    for name in refused:
        with pytest.raises(ApplicationError):
            config_validate(
                phase=competition_phase(competition=comp),
                text=examples.clamp_epochs(everything[name], comp.budget_epochs),
            )
    client.force_login(alice)
    html = client.get("/c/iris-cup/submit/?kind=config").content.decode()
    assert 'value="digits_cnn"' not in html
    assert all(f'value="{name}"' in html for name in offered)


def test_clamp_epochs_lowers_only_what_is_over_the_budget():
    from podium.web.examples import clamp_epochs

    text = "train:\n  epochs: 60   # long\npretrain:\n  epochs: 5\n"
    assert clamp_epochs(text, 30) == "train:\n  epochs: 30   # long\npretrain:\n  epochs: 5\n"


def test_tied_scores_share_a_rank_on_the_board_and_in_the_api(client, alice, bob, charlie):
    from rest_framework.test import APIClient

    comp = competition()
    label = comp.dataset.manifest["classes"][0]
    for user in (alice, bob, charlie):
        _join(comp, user)
        scored_predictions_entry(comp, user, label=label)  # three identical files: one score
    html = client.get("/c/iris-cup/leaderboard/").content.decode()
    assert re.findall(r'<td class="rank">(\d+)</td>', html) == ["1", "1", "1"]
    body = APIClient().get("/api/competitions/iris-cup/leaderboard/").json()
    rows = body.get("results", body.get("rows", body))
    assert [r["rank"] for r in rows] == [1, 1, 1]
    # Each one's own row says the same rank.
    client.force_login(charlie)
    html = client.get("/c/iris-cup/leaderboard/").content.decode()
    mine = html[html.index('data-testid="my-row"') :]
    assert re.search(r'<td class="rank">1</td>', mine)


def test_the_admin_index_says_board_entries(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/admin/").content.decode()
    assert "Board entries" in html and "Board entrys" not in html


def test_the_site_has_a_favicon(client):
    page = client.get("/").content.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)"', page)[1]
    assert href.endswith("/web/favicon.svg")
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 301 and redirect["Location"] == href
    icon = client.get(href)
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)


def test_the_live_validator_counts_what_to_fix_and_stores_nothing(client, alice):
    from podium.submissions.models import Submission

    comp = competition()
    _join(comp, alice)
    client.force_login(alice)
    html = client.post(
        "/c/iris-cup/submit/validate/", {"config": "version: 1\nseed: 0\nmodel: 3\n"}
    ).content.decode()
    assert "nothing was stored" not in html and "problem(s)" not in html
    assert re.search(r"\d+ things? to fix before submitting", html)
    assert Submission.objects.count() == 0


def test_submit_before_joining_offers_accept_and_join_inline(client, alice):
    from podium.competitions.models import Participation

    competition()
    client.force_login(alice)
    page = client.get("/c/iris-cup/submit/?kind=config").content.decode()
    form = page[page.index('data-testid="join-form"') :]
    assert 'name="next" value="submit"' in form and "Accept the rules and join" in form
    # The editor's validator says a valid config cannot be sent yet, and why.
    html = client.post("/c/iris-cup/submit/validate/", {"config": CONFIG}).content.decode()
    assert "Valid config" in html and "Join the competition" in html
    # Not ticked: refused with the reason, back on Submit, nothing joined.
    refused = client.post("/c/iris-cup/join/", {"next": "submit"}, follow=True)
    assert refused.redirect_chain[-1][0] == "/c/iris-cup/submit/"
    assert "accept the rules" in refused.content.decode()
    assert not Participation.objects.filter(user=alice).exists()
    joined = client.post("/c/iris-cup/join/", {"next": "submit", "accept_rules": "on"}, follow=True)
    assert joined.redirect_chain[-1][0] == "/c/iris-cup/submit/"
    assert Participation.objects.filter(user=alice).exists()
    assert 'data-testid="join-form"' not in joined.content.decode()


def test_one_join_form_on_the_rules_and_the_header_leads_to_it(client, alice):
    competition()
    client.force_login(alice)
    html = client.get("/c/iris-cup/").content.decode()
    assert "Read the rules and join" in html and "/c/iris-cup/rules/#join" in html
    assert html.count("Join competition") == 0
    rules = client.get("/c/iris-cup/rules/").content.decode()
    assert rules.count('data-testid="join-form"') == 1 and 'name="accept_rules"' in rules
    assert "required" in rules[rules.index('name="accept_rules"') - 120 :][:300]


def test_cancel_asks_first(client, alice):
    comp = competition()
    _join(comp, alice)
    entry = config_entry(comp, alice, epochs=1)
    client.force_login(alice)
    html = client.get("/c/iris-cup/submissions/").content.decode()
    assert f'data-confirm="Cancel submission #{entry.pk}?' in html


def test_dataset_descriptions_are_markdown_rendered_safely(client):
    comp = competition()
    comp.dataset.description = "Measured by **Fisher**.\n\n<script>alert(1)</script>"
    comp.dataset.save(update_fields=["description"])
    html = client.get("/c/iris-cup/data/").content.decode()
    block = html[html.index('data-testid="dataset-description"') :][:400]
    assert "<strong>Fisher</strong>" in block and "<script" not in block


def test_fitting_templates_are_validated_once_for_every_server_process(monkeypatch):
    """Checking every example against a competition costs a few hundred milliseconds; a new
    server process reads the answer from the shared cache instead of paying it on its first
    Submit page, and a phase with another budget gets its own answer."""
    from podium.competitions.models import Competition, Phase
    from podium.competitions.selectors import competition_phase
    from podium.submissions import validation
    from podium.web import examples

    comp = competition()
    calls = []
    real = validation.config_validate
    monkeypatch.setattr(validation, "config_validate", lambda **kw: calls.append(1) or real(**kw))
    first = examples.templates_for(comp)
    assert calls and first
    examples._FITTING.clear()  # as a process that just started
    checked = len(calls)
    assert examples.templates_for(comp) == first and len(calls) == checked
    Phase.objects.filter(competition=comp).update(budget_epochs=2)
    comp = Competition.objects.get(pk=comp.pk)
    again = examples.templates_for(comp, competition_phase(competition=comp))
    assert len(calls) > checked and "epochs: 2" in again["breast_cancer_mlp"]


def test_the_data_tab_shows_columns_a_preview_and_download_all(client, alice, bob):
    import io
    import zipfile

    comp = competition()
    _join(comp, alice)
    anonymous = client.get("/c/iris-cup/data/").content.decode()
    columns = anonymous[anonymous.index('data-testid="columns"') :]
    columns = columns[: columns.index("</table>")]
    for name in ("id", "sepal_length_cm", "petal_width_cm", "target"):
        assert f'<td class="mono">{name}</td>' in columns, name
    assert "one of 3 classes" in columns
    # The manifest is whole (not cut off), folded; the rows are behind the join, as downloads are.
    assert 'data-testid="manifest-details"' in anonymous and "split_seed" in anonymous
    assert 'data-testid="preview"' not in anonymous and 'data-testid="download-all"' not in anonymous
    assert client.get("/c/iris-cup/data/all.zip").status_code == 302  # log in first
    client.force_login(bob)  # not joined
    assert 'data-testid="preview"' not in client.get("/c/iris-cup/data/").content.decode()
    refused = client.get("/c/iris-cup/data/all.zip")
    assert refused.status_code == 403 and b"Join" in refused.content

    client.force_login(alice)
    page = client.get("/c/iris-cup/data/").content.decode()
    preview = page[page.index('data-testid="preview"') :]
    preview = preview[: preview.index("</table>")]
    assert preview.count("<tr>") == 1 + 5  # the header and five rows
    assert '<th scope="col" class="mono">sepal_length_cm</th>' in preview
    answer = client.get("/c/iris-cup/data/all.zip")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    assert sorted(archive.namelist()) == ["sample_submission.csv", "test.csv", "train.csv"]
    assert archive.read("train.csv").startswith(b"id,sepal_length_cm")


def test_no_template_comment_leaks_into_a_page(client, alice):
    """Django's {# #} comments end at the line: a multi-line one is shown as text."""
    comp = competition()
    _join(comp, alice)
    client.force_login(alice)
    for url in ("/", "/c/iris-cup/", "/c/iris-cup/data/", "/c/iris-cup/submissions/", "/c/iris-cup/rules/"):
        html = client.get(url).content.decode()
        assert "{#" not in html and "#}" not in html, url
