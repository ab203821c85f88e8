"""Board entries: an entry as the scorer leaves it, applied to the board the way the scorer does."""

from __future__ import annotations

from django.utils import timezone

from tests.factories.submissions import make_submission


def make_entry(
    competition,
    user,
    public=None,
    private=None,
    *,
    status="scored",
    at=None,
    ci=None,
    team=None,
    record=True,
    extra_scores=None,
):
    """A submission in `status` (scored: with `public`/`private` scores and the interval `ci`),
    created at `at`, and its board row brought up to date unless `record` is False."""
    from podium.leaderboards.services import board_record_entry, board_record_score
    from podium.submissions.models import Status, Submission

    submission = make_submission(competition, user, team=team, status=Status.QUEUED)
    if at is not None:
        Submission.objects.filter(pk=submission.pk).update(created_at=at)
        submission.refresh_from_db()
    if record:
        board_record_entry(submission=submission)
    if status != Status.QUEUED:
        submission.status = status
        if status == Status.SCORED:
            submission.public_score = public
            submission.private_score = private if private is not None else public
            low, high = ci if ci is not None else (public - 0.01, public + 0.01)
            submission.public_ci_low, submission.public_ci_high = low, high
            submission.extra_scores = extra_scores or {}
            submission.finished_at = timezone.now()
        submission.save()
        if record:
            if status == Status.SCORED:
                board_record_score(submission=submission)
            else:
                board_record_entry(submission=submission)
    return submission
