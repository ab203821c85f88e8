"""Every read and write the pages make on the other apps, in one place.

The pages call these; these call the apps' selectors and services, so every
permission rule lives in its app. While a part has not landed, deps.Missing is
raised and the page says so instead of guessing the rule.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.http import Http404

from podium.web import deps

COMP_SEL = "podium.competitions.selectors"
COMP_SVC = "podium.competitions.services"
SUB_SEL = "podium.submissions.selectors"
SUB_SVC = "podium.submissions.services"
BOARD_SEL = "podium.leaderboards.selectors"
BOARD_SVC = "podium.leaderboards.services"
ACC_SVC = "podium.accounts.services"
ACC_SEL = "podium.accounts.selectors"
TEAM_SVC = "podium.teams.services"
TEAM_SEL = "podium.teams.selectors"


def _user(user):
    return user if user is not None and user.is_authenticated else None


# --- competitions -------------------------------------------------------------
def competitions_for(user):
    return list(deps.get(COMP_SEL, "competition_list")(user=_user(user)))


def competition_status(competition) -> str:
    return deps.get(COMP_SEL, "competition_status")(competition)


def next_daily_reset():
    return deps.get(COMP_SEL, "next_daily_reset")()


def competition_for(slug: str, user):
    """The competition if `user` may see it; the selector raises Http404 otherwise."""
    return deps.get(COMP_SEL, "competition_get")(slug=slug, user=_user(user))


def is_participant(competition, user) -> bool:
    joined = getattr(competition, "has_joined", None)
    if joined is not None:
        return bool(joined)
    return bool(deps.get(COMP_SEL, "participation_exists")(competition=competition, user=_user(user)))


def can_download(competition, user) -> bool:
    return bool(deps.get(COMP_SEL, "competition_can_download")(competition=competition, user=_user(user)))


def join(competition, user):
    return deps.get(COMP_SVC, "competition_join")(competition=competition, user=user)


def public_files(competition):
    """The dataset files a participant may download (never the hidden labels)."""
    return list(deps.get(COMP_SEL, "dataset_public_files")(dataset=competition.dataset))


def public_manifest(competition) -> dict:
    return deps.get(COMP_SEL, "public_manifest")(competition.dataset)


def open_file(competition, name: str, user):
    """An open handle on a public dataset file; Http404 for hidden or unknown names."""
    if not can_download(competition, user):
        raise PermissionDenied("Join the competition (and accept its rules) to download its data.")
    found = deps.get(COMP_SEL, "dataset_public_file")(dataset=competition.dataset, name=name)
    return found.file.open("rb")


# --- accounts -----------------------------------------------------------------
def user_create(**fields):
    return deps.get(ACC_SVC, "user_create")(**fields)


def team_for(competition, user):
    if _user(user) is None:
        return None
    return deps.get(TEAM_SEL, "team_for")(competition=competition, user=user)


def tokens_of(user):
    return list(deps.get(ACC_SEL, "api_token_list")(user=user))


def token_create(user, name: str) -> str:
    """Creates a token and returns its key (the only time it exists in clear)."""
    result = deps.get(ACC_SVC, "api_token_create")(user=user, name=name)
    return result[1] if isinstance(result, tuple) else result.key


def token_revoke(user, token_id: int):
    return deps.get(ACC_SVC, "api_token_revoke")(user=user, token_id=token_id)


def teams_of(user):
    return list(deps.get(TEAM_SEL, "team_list_for_user")(user=user))


def team_join(user, code: str):
    return deps.get(TEAM_SVC, "team_join")(user=user, join_code=code)


def team_create(user, competition, name: str):
    return deps.get(TEAM_SVC, "team_create")(user=user, competition=competition, name=name)


# --- submissions ----------------------------------------------------------------
def submission_errors():
    """The intake's error classes (SubmissionError and its subclasses)."""
    import importlib

    return importlib.import_module("podium.submissions.errors")


def submit(competition, user, *, predictions_file=None, config_text=None, description=""):
    return deps.get(SUB_SVC, "submission_create")(
        competition=competition,
        user=user,
        predictions_file=predictions_file,
        config_text=config_text,
        description=description,
    )


def usage(competition, user):
    """Today's and total entries against the limits (the intake's own count)."""
    from django.utils import timezone

    team = deps.get(TEAM_SEL, "team_for")(competition=competition, user=user)
    return deps.get("podium.submissions.limits", "submission_usage")(
        competition=competition, user=user, team=team, now=timezone.now()
    )


def validate_config(competition, text: str):
    """The same validation the intake runs (schema, then dataset and budget checks)."""
    return deps.get("podium.submissions.validation", "config_validate")(competition=competition, text=text)


def my_submissions(competition, user):
    """Own (and own team's) entries, with the current attempt's epoch count for the progress
    bar; the selector filters by who asks, this only adds a count to its rows."""
    qs = deps.get(SUB_SEL, "submission_list")(competition=competition, user=_user(user))
    rows = deps.get(SUB_SEL, "submissions_shown")(
        qs.annotate(epochs_done=Count("epoch_metrics", filter=Q(epoch_metrics__attempt=F("attempt")))),
        user=_user(user),
    )
    for row in rows:
        train = (row.config or {}).get("train") or {}
        row.epochs_total = train.get("epochs") or competition.budget_epochs
        row.progress = min(100, round(100 * row.epochs_done / row.epochs_total)) if row.epochs_total else 0
    return rows


def submission_for(submission_id: int, user):
    """The entry if `user` may see it (its owner, their team, staff); Http404 otherwise."""
    return deps.get(SUB_SEL, "submission_get")(
        submission_id=submission_id, user=_user(user), with_epochs=True
    )


def epochs_of(submission, user):
    # The current attempt's curve; earlier attempts were cut off by a lost worker.
    if not hasattr(submission, "_prefetched_objects_cache") or "epoch_metrics" not in getattr(
        submission, "_prefetched_objects_cache", {}
    ):
        submission = submission_for(submission.pk, user)
    return [m for m in submission.epoch_metrics.all() if m.attempt == submission.attempt]


def cancel(submission, user):
    return deps.get(SUB_SVC, "submission_cancel")(submission=submission)


def predictions_file(submission, user):
    """(handle, filename) of the entry's predictions; Http404 when it has none yet."""
    if not submission.predictions:
        raise Http404("This entry has no predictions file yet.")
    return submission.predictions.open("rb"), f"submission-{submission.pk}.csv"


def final_pick(submission, user, picked: bool):
    current = bool(submission.is_final_pick)
    if current == picked:
        return submission
    return deps.get(BOARD_SVC, "final_pick_toggle")(submission_id=submission.pk, user=user)


# --- leaderboards ------------------------------------------------------------------
def private_scores_visible(competition, user) -> bool:
    return bool(deps.get(BOARD_SEL, "private_board_visible")(competition=competition, user=_user(user)))


def board(competition, user, which: str, page: int = 1):
    """One page of a board plus the asker's own row (BoardPage); PermissionDenied when hidden."""
    return deps.get(BOARD_SEL, "board_page")(
        competition=competition, board=which, page=page, user=_user(user)
    )


# --- staff: datasets and competitions ------------------------------------------------
def upload_error():
    from datasets.upload import UploadError

    return UploadError


def dataset_import_builtin(slug: str):
    return deps.get(COMP_SVC, "dataset_import_builtin")(slug=slug)


def dataset_from_upload(**fields):
    return deps.get(COMP_SVC, "dataset_create_from_upload")(**fields)


def dataset_by_id(dataset_id: int, user):
    found = deps.get(COMP_SEL, "dataset_list")(user=_user(user)).filter(pk=dataset_id).first()
    if found is None:
        raise Http404("No such dataset")
    return found


def competition_create(**fields):
    return deps.get(COMP_SVC, "competition_create")(**fields)
