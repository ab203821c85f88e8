"""`manage.py seed_claims`: the claims' recorded run (docs/claims.md) on a site that has no
claim results of its own, so that `make run` shows the measured pages; a site that ran
`run_claims` keeps its own results."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from podium.lab.claims_models import ClaimResult

FIXTURE = "claim_results"


class Command(BaseCommand):
    help = "Load the claims' recorded run (docs/claims.md) when no claim result is stored."

    def handle(self, *args, **options):
        if ClaimResult.objects.exists():
            self.stdout.write("claims: results already stored; kept")
            return
        call_command("loaddata", FIXTURE, verbosity=0)
        self.stdout.write(f"claims: the recorded run loaded ({ClaimResult.objects.count()} claims)")
