"""Entries in the admin: filters by competition, status, kind and disqualification, search
by author; read only (the lifecycle changes through services: hosts' operations, the API)."""

from __future__ import annotations

from django.contrib import admin

from podium.submissions.models import Disqualification, Submission


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "competition",
        "user",
        "team",
        "kind",
        "status",
        "public_score",
        "created_at",
        "disqualified_at",
    ]
    list_filter = [
        "competition",
        "status",
        "kind",
        ("disqualified_at", admin.EmptyFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["user__username", "team__name", "description"]
    list_select_related = ["competition", "user", "team"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # a count of a million entries on every page is not worth it
    list_per_page = 50
    # Private scores are not listed: the admin may be open while the competition is.
    fields = [
        "competition",
        "user",
        "team",
        "kind",
        "status",
        "description",
        "attempt",
        "created_at",
        "finished_at",
        "public_score",
        "public_ci_low",
        "public_ci_high",
        "error_message",
        "disqualified_at",
        "disqualified_reason",
        "disqualified_scope",
        "config_text",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Disqualification)
class DisqualificationAdmin(admin.ModelAdmin):
    list_display = ["competition", "user", "team", "reason", "created_at", "created_by", "lifted_at"]
    list_filter = ["competition", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "team__name", "reason"]
    readonly_fields = [
        "competition",
        "user",
        "team",
        "reason",
        "created_at",
        "created_by",
        "lifted_at",
        "lifted_by",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
