"""Django admin for datasets and competitions, with CSV and image uploads of a new dataset.

Creation goes through the services, so an admin-made competition gets its answer key
and partition exactly like one made through the API or seed_demo.
"""

from __future__ import annotations

import inspect

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from podium.competitions import services
from podium.competitions.forms import (
    FROZEN_AFTER_CREATION,
    CompetitionAdminForm,
    DatasetUploadForm,
    ImageDatasetUploadForm,
)
from podium.competitions.models import (
    AuditEvent,
    Competition,
    CompetitionHost,
    Dataset,
    DatasetFile,
    Invitation,
    JoinPolicy,
    JoinRequest,
    Participation,
    Phase,
)
from podium.competitions.phases import window_problems
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
                "upload-images/",
                self.admin_site.admin_view(self.upload_images_view),
                name="competitions_dataset_upload_images",
            ),
            path(
                "import-builtin/",
                self.admin_site.admin_view(self.import_builtin_view),
                name="competitions_dataset_import_builtin",
            ),
            *super().get_urls(),
        ]

    @csrf_exempt
    def upload_view(self, request):
        return self._capped_upload(request, images=False)

    @csrf_exempt
    def upload_images_view(self, request):
        return self._capped_upload(request, images=True)

    def _capped_upload(self, request, *, images: bool):
        # The cap must be installed before CSRF checking reads the body, hence csrf_exempt
        # on the views and csrf_protect on the inner one.
        if not self.has_change_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        handler = None
        if request.method == "POST":
            handler = install_capped_handler(request, max_bytes=settings.PODIUM_MAX_DATASET_FILE_BYTES)
        return csrf_protect(self._upload)(request, handler, images)

    def _upload(self, request, handler, images: bool = False):
        from datasets.upload import UploadError

        form_class = ImageDatasetUploadForm if images else DatasetUploadForm
        form = form_class()
        problems = []
        if request.method == "POST":
            form = form_class(request.POST, request.FILES, too_large=handler.too_large if handler else [])
            if form.is_valid():
                data = dict(form.cleaned_data)
                data.pop("new_version")  # asked and checked by the form
                try:
                    if images:
                        dataset = services.dataset_create_from_image_upload(
                            images_file=data.pop("images_file"),
                            train_file=data.pop("train_file"),
                            test_file=data.pop("test_file") or None,
                            metric=data.pop("metric") or None,
                            **data,
                        )
                    else:
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
            "title": "Upload an image dataset (zip of PNG/JPEG)" if images else "Upload a dataset (CSV)",
            "images": images,
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


class PhaseInlineFormSet(BaseInlineFormSet):
    """The phases as one set: the windows checked together, with the API's rules
    (competitions.phases.window_problems); a phase's test split fixed once it exists."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = []
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                if (
                    form.instance.pk
                    and form.cleaned_data.get("DELETE")
                    and form.instance.submissions.exists()
                ):
                    raise ValidationError(f"Phase '{form.instance.slug}' has entries: it cannot be deleted.")
                continue
            if form.instance.pk and {"dataset", "split_seed", "public_fraction"} & set(form.changed_data):
                raise ValidationError(
                    f"Phase '{form.instance.slug}': its test split (dataset, split seed, public fraction) is "
                    "fixed once it exists; add a new phase instead."
                )
            kept.append(form.instance)
        slugs = [p.slug for p in kept]
        duplicated = sorted({s for s in slugs if slugs.count(s) > 1})
        if duplicated:
            raise ValidationError(f"Two phases share the slug {', '.join(duplicated)}.")
        numbers = [p.number for p in kept]
        if len(set(numbers)) != len(numbers):
            raise ValidationError("Two phases share a number: number them 1, 2, … in order.")
        if not kept:
            raise ValidationError("A competition needs at least one phase.")
        problems = window_problems(self.instance, kept)
        if problems:
            raise ValidationError([p.message for p in problems])


class PhaseInline(admin.StackedInline):
    model = Phase
    formset = PhaseInlineFormSet
    extra = 0
    fields = [
        ("number", "slug", "title"),
        "description",
        ("starts_at", "ends_at", "late_entries"),
        ("daily_limit", "total_limit", "max_final_picks"),
        ("accepts_predictions", "accepts_configs"),
        ("budget_epochs", "budget_params", "budget_seconds", "max_variants"),
        ("lab_daily_epochs",),
        ("dataset", "split_seed", "public_fraction"),
        ("answer_key_info", "private_revealed_at"),
    ]
    readonly_fields = ["answer_key_info", "private_revealed_at"]

    @admin.display(description="Own answer key")
    def answer_key_info(self, obj):
        # Never the key itself, not even to staff: its fingerprint, or where the phase is scored.
        if not obj or not obj.answer_key_sha256:
            return "the competition's"
        return format_html("sha256 <code>{}</code>", obj.answer_key_sha256)


class CompetitionHostInline(admin.TabularInline):
    """A site admin makes a person a host of this one competition (through the service: audited)."""

    model = CompetitionHost
    extra = 0
    fields = ["user", "added_by", "added_at"]
    readonly_fields = ["added_by", "added_at"]
    autocomplete_fields = ["user"]
    verbose_name = "host"
    verbose_name_plural = "hosts (manage this competition without being site staff)"


@admin.register(Competition)
class CompetitionAdmin(AdminQueryInitial, admin.ModelAdmin):
    form = CompetitionAdminForm
    list_display = ["slug", "title", "dataset", "metric", "starts_at", "ends_at", "is_published", "n_public"]
    list_filter = ["is_published", "task_type", "metric"]
    search_fields = ["slug", "title"]
    filter_horizontal = ["pretrain_datasets"]
    readonly_fields = ["task_type", "higher_is_better", "n_public", "n_private", "answer_key_info"]
    inlines = [PhaseInline, ParticipationInline, CompetitionHostInline]

    def get_inlines(self, request, obj):
        # A new competition gets its first phase from competition_create; more are added after.
        return self.inlines if obj is not None else [ParticipationInline, CompetitionHostInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not CompetitionHost:
            super().save_formset(request, form, formset, change)
            if formset.model is Phase:
                for phase in formset.new_objects:
                    if phase.dataset_id is not None:
                        services.phase_build_answer_key(phase=phase)
            return None
        hosts = formset.save(commit=False)
        for removed in formset.deleted_objects:
            services.competition_host_remove(
                competition=form.instance, user=removed.user, removed_by=request.user
            )
        for host in hosts:
            if host.pk is None:
                services.competition_host_add(
                    competition=form.instance, user=host.user, added_by=request.user
                )
            else:
                host.save()
        return None

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


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log: read only, as a log must be."""

    list_display = ["created_at", "competition", "actor", "action", "target", "reason"]
    list_filter = ["action", "competition"]
    search_fields = ["target", "reason", "actor__username"]
    readonly_fields = ["competition", "actor", "action", "target", "reason", "data", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JoinRequest)
class JoinRequestAdmin(admin.ModelAdmin):
    list_display = ["competition", "user", "state", "created_at", "decided_at", "decided_by"]
    list_filter = ["state", "competition"]
    search_fields = ["user__username"]
    readonly_fields = ["competition", "user", "state", "created_at", "decided_at", "decided_by", "reason"]
    actions = ["approve", "decline"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Approve the selected requests")
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Decline the selected requests")
    def decline(self, request, queryset):
        self._decide(request, queryset, approve=False)

    def _decide(self, request, queryset, *, approve: bool):
        done = 0
        for found in queryset.filter(state=JoinRequest.State.PENDING):
            services.join_request_decide(join_request=found, approve=approve, decided_by=request.user)
            done += 1
        self.message_user(request, f"{done} request(s) {'approved' if approve else 'declined'}.")


class InvitationAdminForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["competition", "user"]

    def clean(self):
        cleaned = super().clean()
        competition = cleaned.get("competition")
        if competition is not None and competition.join_policy != JoinPolicy.INVITE:
            self.add_error(
                "competition", f"'{competition.slug}' is not invite-only; anyone allowed may join it."
            )
        return cleaned


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    form = InvitationAdminForm
    list_display = ["competition", "user", "invited_by", "created_at"]
    list_filter = ["competition"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]
    readonly_fields = ["invited_by", "created_at"]

    def save_model(self, request, obj, form, change):
        created = services.invitation_create(
            competition=obj.competition, user=obj.user, invited_by=request.user
        )
        obj.pk = created.pk
