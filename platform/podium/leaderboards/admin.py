from django.contrib import admin, messages

from podium.leaderboards.models import BoardEntry, PrivateBoard
from podium.leaderboards.services import board_reveal


@admin.register(BoardEntry)
class BoardEntryAdmin(admin.ModelAdmin):
    list_display = ("competition", "user", "team", "score", "private_score", "entry_count", "submitted_at")
    list_filter = ("competition",)
    list_select_related = ("competition", "user", "team")
    search_fields = ("user__username", "team__name")
    # Rows are kept by the services; hand edits would break the ranking invariants.
    readonly_fields = [f.name for f in BoardEntry._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.action(description="Reveal the private board now")
def reveal_private_board(modeladmin, request, queryset):
    revealed = [c.slug for c in queryset if board_reveal(competition=c)]
    if revealed:
        modeladmin.message_user(request, f"Revealed: {', '.join(revealed)}.", messages.SUCCESS)
    else:
        modeladmin.message_user(request, "Those private boards were revealed already.", messages.INFO)


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
