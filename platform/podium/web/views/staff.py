"""Staff: create a competition from uploaded CSVs, uploaded images or a built-in dataset, see the validation
report, and publish. Step 1 stores the dataset (or lists every problem, storing nothing);
step 2 shows its report and creates the competition."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from datasets.categorical import split_columns
from datasets.upload import UploadError
from podium.competitions import selectors, services
from podium.web.staff_forms import CompetitionStepForm, DatasetStepForm


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@staff_member_required
def new_competition(request):
    form = DatasetStepForm(request.POST or None, request.FILES or None)
    ctx = {"nav": "staff", "form": form, "problems": []}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        warnings = []
        try:
            if data["source"] == "builtin":
                dataset = services.dataset_import_builtin(slug=data["builtin"])
            elif data["source"] == "images":
                dataset = services.dataset_create_from_image_upload(
                    images_file=data["images_file"],
                    train_file=data["train_file"],
                    test_file=data.get("test_file"),
                    slug=data["slug"],
                    title=data["title"],
                    task_type=data["task_type"],
                    target_column=data["target_column"],
                    id_column=data.get("id_column") or "id",
                    test_fraction=None if data.get("test_file") else (data.get("test_fraction") or 0.25),
                    resize_height=data.get("resize_height"),
                    resize_width=data.get("resize_width"),
                    description=data.get("description") or "",
                    license=data.get("license") or "",
                )
                warnings = dataset.upload_warnings
            else:
                dataset = services.dataset_create_from_upload(
                    train_file=data["train_file"],
                    test_file=data.get("test_file"),
                    slug=data["slug"],
                    title=data["title"],
                    task_type=data["task_type"],
                    target_column=data["target_column"],
                    id_column=data.get("id_column") or "id",
                    test_fraction=None if data.get("test_file") else (data.get("test_fraction") or 0.25),
                    description=data.get("description") or "",
                    license=data.get("license") or "",
                    categorical_columns=split_columns(data.get("categorical_columns")),
                    text_column=data.get("text_column") or "",
                    vocab_size=data.get("vocab_size"),
                    max_length=data.get("max_length"),
                    truncate=bool(data.get("truncate")),
                )
                warnings = dataset.upload_warnings
        except ValidationError as exc:
            _add_errors(form, exc)
        except UploadError as exc:
            ctx["problems"] = exc.problems
            ctx["problems_total"] = exc.total
        else:
            messages.success(
                request, f"Dataset {dataset.slug} v{dataset.version} stored. Check the report, then publish."
            )
            for warning in warnings:
                messages.warning(request, f"Warning: {warning['message']}.")
            return redirect("web:staff_new_competition_step2", dataset_id=dataset.pk)
    return render(request, "web/staff/new_competition.html", ctx)


@staff_member_required
def new_competition_step2(request, dataset_id: int):
    dataset = selectors.dataset_get_by_id(dataset_id=dataset_id, user=request.user)
    form = CompetitionStepForm(
        request.POST or None, initial=CompetitionStepForm.initial_for(dataset), dataset=dataset
    )
    if request.method == "POST" and form.is_valid():
        try:
            competition = services.competition_create(
                dataset=dataset, created_by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            state = "published" if competition.is_published else "saved as a draft"
            messages.success(request, f"Competition “{competition.title}” {state}.")
            return redirect("web:competition", slug=competition.slug)
    ctx = {
        "nav": "staff",
        "form": form,
        "dataset": dataset,
        "manifest": dataset.manifest,
        "files": list(dataset.files.all()),
    }
    return render(request, "web/staff/new_competition_step2.html", ctx)
