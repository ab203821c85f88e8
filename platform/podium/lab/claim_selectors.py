"""Reads of the claims' pages: each claim of the registry with its stored result (or none
yet). Public: the results are the platform's own measurements, on built-in data."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404

from podium.lab.claims import Claim, claim_get, claim_list
from podium.lab.claims_models import ClaimResult


@dataclass(frozen=True)
class ClaimView:
    claim: Claim
    result: ClaimResult | None

    @property
    def verdict(self) -> str:
        """reproduces | does-not-reproduce | undecided | not-measured"""
        if self.result is None:
            return "not-measured"
        if self.result.reproduces is None:
            return "undecided"
        return "reproduces" if self.result.reproduces else "does-not-reproduce"


def claim_index() -> list[ClaimView]:
    """Every claim in the registry's order with its result: one query."""
    results = {r.slug: r for r in ClaimResult.objects.all()}
    return [ClaimView(claim=c, result=results.get(c.slug)) for c in claim_list()]


def claim_page(*, slug: str) -> ClaimView:
    claim = claim_get(slug)
    if claim is None:
        raise Http404(f"No claim {slug!r}.")
    return ClaimView(claim=claim, result=ClaimResult.objects.filter(slug=slug).first())
