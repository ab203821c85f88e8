"""The claims of the post the project started from, measured on the platform: an index with
each claim's verdict, and a page per claim (quotes, the table with intervals, the curves, where
and when it ran). The pages render what `manage.py run_claims` stored; nothing trains here."""

from __future__ import annotations

from django.shortcuts import render

from podium.lab.claim_selectors import claim_index, claim_page
from podium.web.charts import claim_charts


def claims_index(request):
    return render(request, "web/claims/index.html", {"claims": claim_index(), "nav": "claims"})


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "—"


def _rows(arms: list[dict]) -> list[dict]:
    """The results table: the stored numbers as a person reads them."""
    return [
        {
            **arm,
            "per_seed": " · ".join(
                f"{v:.4f}" for _, v in sorted(arm["scores"].items(), key=lambda kv: int(kv[0]))
            ),
            "params_text": _count(arm.get("params")),
            "trainable_text": _count(arm["trainable"])
            if arm.get("trainable") not in (None, arm.get("params"))
            else "",
            "macs_text": _count(arm.get("multiply_adds")),
            "ratio_text": f"{arm['gradient_ratio']:.2g}" if arm.get("gradient_ratio") is not None else "—",
        }
        for arm in arms
    ]


def claim_detail(request, slug: str):
    view = claim_page(slug=slug)
    result = view.result
    charts = claim_charts(result.arms, metric=result.metric) if result is not None else None
    return render(
        request,
        "web/claims/detail.html",
        {
            "view": view,
            "claim": view.claim,
            "result": result,
            "charts": charts,
            "rows": _rows(result.arms) if result is not None else [],
            "metric_name": (result.metric if result is not None else "score").replace("_", " "),
            "plots": set(view.claim.plots),
            "command": f"python manage.py run_claims --claim {view.claim.slug}",
            "nav": "claims",
        },
    )
