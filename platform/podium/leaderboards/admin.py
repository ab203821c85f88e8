from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone

from podium.competitions.phases import OPEN
from podium.competitions.selectors import competition_phase
from podium.errors import ApplicationError
from podium.leaderboards.models import BoardEntry, PrivateBoard
from podium.leaderboards.services import board_reveal

# Private scores are shown only by the board's selectors, under their one rule
# (submissions.selectors.private_scores_visible): not in this raw view of the rows.
_PRIVATE_FIELDS = {"private_score", "private_rank_key", "private_submission", "private_submitted_at"}


@admin.register(BoardEntry)
class BoardEntryAdmin(admin.ModelAdmin):
    list_display = ("competition", "user", "team", "score", "entry_count", "submitted_at")
    list_filter = ("competition",)
    list_select_related = ("competition", "user", "team")
    search_fields = ("user__username", "team__name")
    # Rows are kept by the services; hand edits would break the ranking invariants.
    fields = readonly_fields = [f.name for f in BoardEntry._meta.fields if f.name not in _PRIVATE_FIELDS]

    def has_add_permission(self, request):
        return False


def _confirm_close(modeladmin, request, *, selected, still_open) -> TemplateResponse:
    """The intermediate page: a reveal closes an open competition, so the admin confirms it."""
    open_ids = {c.pk for c in still_open}
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Close the competition and reveal its private board?",
        "opts": modeladmin.model._meta,
        "selected": selected,
        "still_open": still_open,
        "others": [c for c in selected if c.pk not in open_ids],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action": "reveal_private_board",
    }
    return TemplateResponse(request, "admin/leaderboards/privateboard/reveal_confirmation.html", context)


@admin.action(description="Reveal the current phase's private board now (closes it when open)")
def reveal_private_board(modeladmin, request, queryset):
    now = timezone.now()
    selected = list(queryset.order_by("slug"))
    # Each competition's current phase is revealed (the phases API reveals a named one).
    current = {c.pk: competition_phase(competition=c, now=now) for c in selected}
    still_open = [
        c for c in selected if current[c.pk].private_revealed_at is None and current[c.pk].status(now) == OPEN
    ]
    confirmed = set(request.POST.getlist("close"))
    if any(str(c.pk) not in confirmed for c in still_open):
        return _confirm_close(modeladmin, request, selected=selected, still_open=still_open)
    revealed, closed, refused = [], [], []
    for competition in selected:
        try:
            reveal = board_reveal(competition=competition, close=str(competition.pk) in confirmed)
        except ApplicationError as exc:
            refused.append(competition.slug)
            modeladmin.message_user(request, exc.detail, messages.ERROR)
            continue
        if reveal.revealed_now:
            revealed.append(competition.slug)
        if reveal.closed_now:
            closed.append(competition.slug)
    if closed:
        modeladmin.message_user(request, f"Closed to entries: {', '.join(closed)}.", messages.WARNING)
    if revealed:
        modeladmin.message_user(request, f"Revealed: {', '.join(revealed)}.", messages.SUCCESS)
    elif not refused:
        modeladmin.message_user(request, "Those private boards were revealed already.", messages.INFO)
    return None


@admin.register(PrivateBoard)
class PrivateBoardAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "ends_at", "private_revealed_at")
    fields = ("slug", "title", "ends_at", "private_revealed_at")
    readonly_fields = fields
    actions = [reveal_private_board]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
