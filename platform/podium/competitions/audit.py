"""The audit log of a competition: one row per action of a host or an admin, with its reason.

Every service that acts on a competition, its entries or its participants on someone's
behalf calls `audit_record` inside its own transaction, so an action and its record are
committed together or not at all."""

from __future__ import annotations

from django.db.models import QuerySet

from podium.competitions.models import AuditEvent, Competition


def audit_record(
    *, competition: Competition, actor, action: str, target: str = "", reason: str = "", data=None
) -> AuditEvent:
    return AuditEvent.objects.create(
        competition=competition,
        actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        action=action,
        target=target[:200],
        reason=reason,
        data=data or {},
    )


def audit_list(*, competition: Competition) -> QuerySet[AuditEvent]:
    """The competition's log, newest first; callers check that the reader manages it."""
    return AuditEvent.objects.filter(competition=competition).select_related("actor")
