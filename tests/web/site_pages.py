"""Every page of the site, with the persona who sees it and what shows that it rendered.
The CSP tests go through all of them: the header through Django's test client
(test_csp.py), the pages themselves in Chromium (test_browser_csp.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from tests.web.ablations import scored_model_entry, trained_ablation
from tests.web.entries import config_entry, scored_predictions_entry
from tests.web.factories import competition


@dataclass(frozen=True)
class SitePage:
    persona: str | None  # the username who visits; None: an anonymous visitor
    path: str
    ready: str  # a selector that is visible once the page has rendered


def build_site(*, alice, bob, admin_user) -> list[SitePage]:
    """One open competition that alice and bob joined: two of alice's config entries in
    training (charts, live rows, compare), one of bob's predictions scored (the board), a scored
    model entry of alice's with an ablation done and one training; and every page that shows them."""
    from podium.competitions.services import competition_join

    comp = competition()
    for user in (alice, bob):
        competition_join(competition=comp, user=user)
    first = config_entry(comp, alice, lr="0.01", epochs=2)
    second = config_entry(comp, alice, lr="0.05", loss0=2.0)
    scored = scored_predictions_entry(comp, bob, label=comp.dataset.manifest["classes"][0])
    model = scored_model_entry(comp, alice)
    ablated = trained_ablation(model, alice, ["activation:sigmoid", "optimizer:sgd"])
    ablating = trained_ablation(model, alice, ["activation:tanh"], finish=False)
    c = f"/c/{comp.slug}"
    return [
        SitePage(None, "/", "[data-testid=comp-card]"),
        SitePage(None, f"{c}/", "[data-testid=overview]"),
        SitePage(None, f"{c}/data/", "main table"),
        SitePage(None, f"{c}/rules/", "#join"),
        SitePage(None, f"{c}/leaderboard/", "[data-testid=board-public]"),
        SitePage(None, "/status/", "[data-testid=status-queues]"),
        SitePage(None, "/accounts/login/", "main form"),
        SitePage(None, "/accounts/signup/", "main form"),
        SitePage(None, reverse("api-docs"), ".swagger-ui .opblock"),
        SitePage("alice", "/accounts/", "main form"),
        SitePage("alice", "/accounts/password/", "main form"),
        SitePage("alice", f"{c}/submit/?kind=config", "[data-editor] textarea"),
        SitePage("alice", f"{c}/submit/?kind=predictions", "main input[type=file]"),
        SitePage("alice", f"{c}/submissions/", "[data-testid=my-rows] progress"),
        SitePage("alice", f"/submissions/{first.pk}/", "canvas[data-chart=chart-grad][data-ready]"),
        SitePage(
            "alice", f"{c}/compare/?a={first.pk}&b={second.pk}", "canvas[data-chart=cmp-loss][data-ready]"
        ),
        SitePage("alice", f"/submissions/{model.pk}/", "[data-testid=ablations]"),
        SitePage("alice", f"/submissions/{model.pk}/ablate/", "[data-testid=ablation-form]"),
        SitePage("alice", f"/ablations/{ablated.pk}/", "canvas[data-chart=ablation-flow][data-ready]"),
        SitePage("alice", f"/ablations/{ablating.pk}/", "canvas[data-chart=ablation-loss][data-ready]"),
        SitePage("bob", f"{c}/leaderboard/", "[data-testid=my-row]"),
        SitePage("bob", f"/submissions/{scored.pk}/", "[data-testid=public-score]"),
        SitePage("admin", reverse("web:staff_new_competition"), "[data-source-switch]"),
        SitePage("admin", reverse("web:staff_new_competition_step2", args=[comp.dataset_id]), "main form"),
        SitePage("admin", reverse("admin:index"), "#content-main"),
        SitePage("admin", reverse("admin:competitions_competition_changelist"), "#changelist"),
        SitePage(
            "admin", reverse("admin:competitions_competition_change", args=[comp.pk]), "#competition_form"
        ),
        SitePage("admin", reverse("admin:accounts_user_change", args=[alice.pk]), "#user_form"),
        SitePage("admin", reverse("admin:competitions_dataset_changelist"), "#changelist"),
        SitePage("admin", reverse("admin:competitions_dataset_upload"), "#content form"),
        SitePage("admin", reverse("admin:competitions_dataset_import_builtin"), "#content form"),
    ]
