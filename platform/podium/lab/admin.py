from django.contrib import admin

from podium.lab.models import Ablation, LabRun


class LabRunInline(admin.TabularInline):
    model = LabRun
    fields = ["key", "status", "attempt", "score", "diff", "beyond_noise", "error_message"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Ablation)
class AblationAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "submission", "competition", "created_at", "model_epochs", "cancelled_at"]
    list_filter = ["competition"]
    search_fields = ["owner__username"]
    raw_id_fields = ["owner", "submission", "competition"]
    readonly_fields = ["holdout_fraction", "holdout_seed", "model_epochs", "created_at"]
    inlines = [LabRunInline]

    def has_add_permission(self, request):
        # Made by lab.services.ablation_create (quota, validation, sending), never by hand.
        return False


@admin.register(LabRun)
class LabRunAdmin(admin.ModelAdmin):
    list_display = ["id", "key", "study_key", "owner", "dataset", "evaluate", "status", "attempt", "score"]
    list_filter = ["status", "evaluate", "technique"]
    search_fields = ["key", "study_key", "owner__username"]
    raw_id_fields = ["ablation", "owner", "dataset"]
    # Written by the workers' callbacks and the scorer, never by hand.
    readonly_fields = [f.name for f in LabRun._meta.fields if f.name not in ("id",)]

    def has_add_permission(self, request):
        # Made by lab.services.lab_runs_create (validation, sending), never by hand.
        return False
