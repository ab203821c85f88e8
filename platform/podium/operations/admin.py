from __future__ import annotations

from django.contrib import admin

from podium.operations.models import RescoreJob


@admin.register(RescoreJob)
class RescoreJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "competition",
        "state",
        "metric",
        "done",
        "total",
        "failed",
        "created_at",
        "finished_at",
    ]
    list_filter = ["state", "competition"]
    readonly_fields = [f.name for f in RescoreJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
