"""Django admin for datasets and competitions, with CSV upload of a new dataset.

Creation goes through the services, so an admin-made competition gets its answer key
and partition exactly like one made through the API or seed_demo.
"""

from __future__ import annotations

import inspect

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from podium.competitions import services
from podium.competitions.forms import FROZEN_AFTER_CREATION, CompetitionAdminForm, DatasetUploadForm
from podium.competitions.models import Competition, Dataset, DatasetFile, Participation
from podium.competitions.upload_handlers import install_capped_handler
from podium.params import AdminQueryInitial


class DatasetFileInline(admin.TabularInline):
    model = DatasetFile
    extra = 0
    can_delete = False
    fields = ["name", "size", "sha256", "hidden"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["slug", "version", "title", "task_type", "source", "created_at"]
    list_filter = ["task_type", "source"]
    search_fields = ["slug", "title"]
    readonly_fields = ["slug", "version", "task_type", "source", "manifest", "created_at"]
    inlines = [DatasetFileInline]
    actions = ["create_competition"]
    change_list_template = "admin/competitions/dataset/change_list.html"

    def has_add_permission(self, request):
        # Datasets come from the catalog or a validated upload, never from a bare form.
        return False

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="competitions_dataset_upload"),
            path(
                "import-builtin/",
                self.admin_site.admin_view(self.import_builtin_view),
                name="competitions_dataset_import_builtin",
            ),
            *super().get_urls(),
        ]

    @csrf_exempt
    def upload_view(self, request):
        # The cap must be installed before CSRF checking reads the body, hence csrf_exempt
        # here and csrf_protect on the inner view.
        if not self.has_change_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        handler = None
        if request.method == "POST":
            handler = install_capped_handler(request, max_bytes=settings.PODIUM_MAX_DATASET_FILE_BYTES)
        return csrf_protect(self._upload)(request, handler)

    def _upload(self, request, handler):
        from datasets.upload import UploadError

        form = DatasetUploadForm()
        problems = []
        if request.method == "POST":
            form = DatasetUploadForm(
                request.POST, request.FILES, too_large=handler.too_large if handler else []
            )
            if form.is_valid():
                data = dict(form.cleaned_data)
                data.pop("new_version")  # asked and checked by the form
                try:
                    dataset = services.dataset_create_from_upload(
                        train_file=data.pop("train_file"),
                        test_file=data.pop("test_file") or None,
                        metric=data.pop("metric") or None,
                        **data,
                    )
                except UploadError as exc:
                    problems = [str(p) for p in exc.problems]
                    if exc.total > len(problems):
                        problems.append(f"… and {exc.total - len(problems)} more")
                    form.add_error(None, "The upload was refused; nothing was stored.")
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    self.message_user(request, f"Stored dataset {dataset}.", messages.SUCCESS)
                    for warning in dataset.upload_warnings:
                        self.message_user(request, f"Warning: {warning['message']}.", messages.WARNING)
                    return HttpResponseRedirect(
                        reverse("admin:competitions_dataset_change", args=[dataset.pk])
                    )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload a dataset (CSV)",
            "form": form,
            "problems": problems,
            "max_bytes": settings.PODIUM_MAX_DATASET_FILE_BYTES,
        }
        return TemplateResponse(request, "admin/competitions/dataset/upload.html", context)

    def import_builtin_view(self, request):
        from datasets import catalog

        if request.method == "POST" and self.has_change_permission(request):
            slug = request.POST.get("slug", "")
            try:
                dataset = services.dataset_import_builtin(slug=slug)
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"Imported {dataset}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:competitions_dataset_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import a built-in dataset",
            "builtins": [(slug, entry.title) for slug, entry in catalog.BUILTINS.items()],
        }
        return TemplateResponse(request, "admin/competitions/dataset/import_builtin.html", context)

    @admin.action(description="Create a competition from the selected dataset")
    def create_competition(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one dataset.", messages.WARNING)
            return None
        dataset = queryset.get()
        url = reverse("admin:competitions_competition_add")
        metric = dataset.manifest.get("metric") or ""
        return HttpResponseRedirect(f"{url}?dataset={dataset.pk}&metric={metric}&slug={dataset.slug}")


class ParticipationInline(admin.TabularInline):
    model = Participation
    extra = 0
    fields = ["user", "joined_at", "accepted_rules_at"]
    readonly_fields = ["joined_at"]
    autocomplete_fields = ["user"]


@admin.register(Competition)
class CompetitionAdmin(AdminQueryInitial, admin.ModelAdmin):
    form = CompetitionAdminForm
    list_display = ["slug", "title", "dataset", "metric", "starts_at", "ends_at", "is_published", "n_public"]
    list_filter = ["is_published", "task_type", "metric"]
    search_fields = ["slug", "title"]
    filter_horizontal = ["pretrain_datasets"]
    readonly_fields = ["task_type", "higher_is_better", "n_public", "n_private", "answer_key_info"]
    inlines = [ParticipationInline]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [*self.readonly_fields, *FROZEN_AFTER_CREATION, "private_revealed_at"]
        return self.readonly_fields

    @admin.display(description="Answer key")
    def answer_key_info(self, obj):
        # The key itself is never shown, not even to staff: only its fingerprint.
        if not obj or not obj.answer_key_sha256:
            return "—"
        return format_html("sha256 <code>{}</code>", obj.answer_key_sha256)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        accepted = inspect.signature(services.competition_create).parameters
        fields = {name: value for name, value in form.cleaned_data.items() if name in accepted}
        created = services.competition_create(created_by=request.user, **fields)
        obj.pk = created.pk
        obj._state.adding = False
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})


@admin.register(Participation)
class ParticipationAdmin(AdminQueryInitial, admin.ModelAdmin):
    list_display = ["competition", "user", "joined_at", "accepted_rules_at"]
    list_filter = ["competition"]
    search_fields = ["user__username", "competition__slug"]
    autocomplete_fields = ["user"]


@admin.register(DatasetFile)
class DatasetFileAdmin(admin.ModelAdmin):
    list_display = ["dataset", "name", "size", "hidden"]
    list_filter = ["hidden"]
    fields = ["dataset", "name", "size", "sha256", "hidden"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False
