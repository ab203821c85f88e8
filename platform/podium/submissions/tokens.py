"""Per-attempt worker tokens: signed, expiring, naming one submission and one attempt.

Nothing is stored: the signature proves the platform issued the token, the
timestamp bounds its life, and the attempt inside it is compared with the row,
so a token of a superseded attempt stops working the moment the entry is requeued.
A lab run's tokens (podium.lab) are the same, signed with their own salt: a token of
one kind never opens the other's callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "podium.submissions.worker-token.v1"


class InvalidWorkerToken(Exception):
    pass


@dataclass(frozen=True)
class WorkerGrant:
    submission_id: int
    attempt: int


def worker_token_make(*, submission_id: int, attempt: int, salt: str = SALT) -> str:
    return signing.dumps({"s": int(submission_id), "a": int(attempt)}, salt=salt, compress=False)


def worker_token_read(token: str, *, salt: str = SALT) -> WorkerGrant:
    max_age = settings.PODIUM_WORKER_TOKEN_TTL.total_seconds()
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise InvalidWorkerToken("worker token expired") from None
    except signing.BadSignature:
        raise InvalidWorkerToken("worker token is not valid") from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("s"), int)
        or not isinstance(payload.get("a"), int)
    ):
        raise InvalidWorkerToken("worker token is not valid")
    return WorkerGrant(submission_id=payload["s"], attempt=payload["a"])
