"""The lab's models (docs/architecture.md, "The lab")."""

from podium.lab.claims_models import ClaimResult

__all__ = ["ClaimResult"]
