"""A lab run's per-attempt worker tokens: an entry's (podium.submissions.tokens) with a salt of
their own, so an entry's token never opens a lab run's callbacks, nor the reverse."""

from __future__ import annotations

from podium.submissions.tokens import worker_token_make

LAB_SALT = "podium.lab.worker-token.v1"


def lab_token_make(*, run_id: int, attempt: int) -> str:
    return worker_token_make(submission_id=run_id, attempt=attempt, salt=LAB_SALT)
