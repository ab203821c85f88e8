"""REST API of datasets and competitions: thin views over selectors and services."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.problems import Problem
from datasets.categorical import split_columns
from podium.api_schema import error_responses
from podium.competitions import selectors, services
from podium.competitions.metric_choice import scoring_rules
from podium.competitions.models import Competition, Dataset, DatasetFile, TaskType
from podium.competitions.upload_handlers import install_capped_handler
from podium.errors import ApplicationError
from podium.params import query_int


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


# --- output serializers ------------------------------------------------------------------


class DatasetRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["slug", "version", "title"]


class CompetitionListOutput(serializers.ModelSerializer):
    dataset = DatasetRefSerializer()
    status = serializers.SerializerMethodField()
    accepted_kinds = serializers.SerializerMethodField()
    n_participants = serializers.IntegerField()
    n_entries = serializers.IntegerField()
    has_joined = serializers.BooleanField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Competition
        fields = [
            "slug",
            "title",
            "url",
            "status",
            "dataset",
            "task_type",
            "metric",
            "higher_is_better",
            "starts_at",
            "ends_at",
            "accepts_predictions",
            "accepts_configs",
            "accepted_kinds",
            "n_participants",
            "n_entries",
            "has_joined",
        ]

    def get_status(self, obj) -> str:
        return selectors.competition_status(obj)

    def get_accepted_kinds(self, obj) -> list[str]:
        return [
            k for k, on in (("predictions", obj.accepts_predictions), ("config", obj.accepts_configs)) if on
        ]

    def get_url(self, obj) -> str:
        return reverse("competitions:detail", kwargs={"slug": obj.slug})


class CompetitionDetailOutput(CompetitionListOutput):
    rules = serializers.SerializerMethodField()
    pretrain_datasets = DatasetRefSerializer(many=True)

    class Meta(CompetitionListOutput.Meta):
        fields = [
            *CompetitionListOutput.Meta.fields,
            "extra_metrics",
            "overview",
            "rules",
            "pretrain_datasets",
            "public_fraction",
            "n_public",
            "n_private",
            "max_final_picks",
            "ladder_enabled",
            "private_revealed_at",
            "merger_deadline",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_rules(self, obj) -> dict:
        return {
            "text": obj.rules,
            "daily_limit": obj.daily_limit,
            "total_limit": obj.total_limit,
            "daily_reset": "00:00 UTC",
            "next_daily_reset": selectors.next_daily_reset().isoformat(),
            "max_final_picks": obj.max_final_picks,
            "accepted_kinds": self.get_accepted_kinds(obj),
            "budget": {
                "epochs": obj.budget_epochs,
                "parameters": obj.budget_params,
                "seconds": obj.budget_seconds,
                "max_variants": obj.max_variants,
                "lab_daily_epochs": obj.lab_daily_epochs,
            },
            "pretrain_datasets": [d.slug for d in obj.pretrain_datasets.all()],
            "merger_deadline": obj.merger_deadline.isoformat() if obj.merger_deadline else None,
            "ends_at": obj.ends_at.isoformat() if obj.ends_at else None,  # none: a permanent benchmark
            "scoring": scoring_rules(obj),
        }


class DatasetFileOutput(serializers.ModelSerializer):
    class Meta:
        model = DatasetFile
        fields = ["name", "size", "sha256"]


class CompetitionFileOutput(DatasetFileOutput):
    url = serializers.SerializerMethodField()

    class Meta(DatasetFileOutput.Meta):
        fields = [*DatasetFileOutput.Meta.fields, "url"]

    def get_url(self, obj) -> str:
        path = reverse(
            "competitions:data-file", kwargs={"slug": self.context["competition"].slug, "name": obj.name}
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class DatasetListOutput(serializers.ModelSerializer):
    rows = serializers.SerializerMethodField()
    input_shape = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "slug",
            "version",
            "title",
            "task_type",
            "source",
            "license",
            "rows",
            "input_shape",
            "created_at",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_rows(self, obj) -> dict:
        return obj.manifest.get("rows") or {}

    def get_input_shape(self, obj) -> list[int]:
        return obj.manifest.get("input_shape") or []


class DatasetDetailOutput(DatasetListOutput):
    manifest = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()

    class Meta(DatasetListOutput.Meta):
        fields = [*DatasetListOutput.Meta.fields, "description", "manifest", "files", "versions"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_manifest(self, obj) -> dict:
        return selectors.public_manifest(obj)

    @extend_schema_field(DatasetFileOutput(many=True))
    def get_files(self, obj):
        return DatasetFileOutput(selectors.dataset_public_files(dataset=obj), many=True).data

    def get_versions(self, obj) -> list[int]:
        return list(
            Dataset.objects.filter(slug=obj.slug).order_by("version").values_list("version", flat=True)
        )


class UploadWarningOutput(serializers.Serializer):
    message = serializers.CharField()
    rows = serializers.IntegerField(help_text="test rows also found in that file")
    file = serializers.CharField(help_text="the dataset, version and file, e.g. 'digits v2 train.csv'")


class DatasetUploadOutput(DatasetDetailOutput):
    warnings = UploadWarningOutput(
        many=True,
        source="upload_warnings",
        help_text="files served elsewhere (or this dataset's train.csv) that hold some of its test rows",
    )

    class Meta(DatasetDetailOutput.Meta):
        fields = [*DatasetDetailOutput.Meta.fields, "warnings"]


# --- competitions --------------------------------------------------------------------------


class CompetitionListApi(APIView):
    permission_classes = [permissions.AllowAny]
    pagination_class = Pagination

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=["open", "upcoming", "past"]),
            OpenApiParameter("task_type", str, enum=[c for c, _ in TaskType.choices]),
            OpenApiParameter("metric", str),
            OpenApiParameter("dataset", str, description="dataset slug"),
            OpenApiParameter("search", str, description="in title, slug, overview and dataset title"),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses=CompetitionListOutput(many=True),
    )
    def get(self, request):
        qs = selectors.competition_list(user=request.user, filters=request.query_params)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(CompetitionListOutput(page, many=True).data)


class CompetitionDetailApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=CompetitionDetailOutput)
    def get(self, request, slug: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        return Response(CompetitionDetailOutput(competition).data)


class CompetitionJoinApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    class JoinInput(serializers.Serializer):
        accept_rules = serializers.BooleanField(
            required=False, help_text="Required and true: joining accepts the competition's rules."
        )

    @extend_schema(request=JoinInput, responses=CompetitionDetailOutput)
    def post(self, request, slug: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        data = self.JoinInput(data=request.data)
        data.is_valid(raise_exception=True)
        # Explicit, as on the site's checkbox: an empty body is not an acceptance.
        if data.validated_data.get("accept_rules") is not True:
            raise ApplicationError(
                "Joining accepts the competition's rules: read them and send accept_rules=true.",
                code="accept_rules",
                problems=[Problem(message="must be true to join", path="accept_rules")],
            )
        services.competition_join(competition=competition, user=request.user)
        competition = selectors.competition_get(slug=slug, user=request.user)
        return Response(CompetitionDetailOutput(competition).data, status=status.HTTP_200_OK)


PHASE_PARAMETER = OpenApiParameter(
    "phase", str, description="A phase's slug (its own test split's files); none: the current phase."
)


class CompetitionDataApi(APIView):
    """The dataset card, the participant-facing files and the manifest (hidden files never listed)."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(
        parameters=[PHASE_PARAMETER],
        responses=inline_serializer(
            "CompetitionData",
            {
                "dataset": DatasetListOutput(),
                "description": serializers.CharField(),
                "manifest": serializers.JSONField(),
                "files": CompetitionFileOutput(many=True),
                "can_download": serializers.BooleanField(),
            },
        ),
    )
    def get(self, request, slug: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        # A phase with its own test split has its own files (`?phase=`; none: the current phase).
        dataset = selectors.competition_phase(
            competition=competition, slug=request.query_params.get("phase")
        ).dataset
        files = selectors.dataset_public_files(dataset=dataset)
        return Response(
            {
                "dataset": DatasetListOutput(dataset).data,
                "description": dataset.description,
                "manifest": selectors.public_manifest(dataset),
                "files": CompetitionFileOutput(
                    files, many=True, context={"competition": competition, "request": request}
                ).data,
                "can_download": selectors.competition_can_download(
                    competition=competition, user=request.user
                ),
            }
        )


@extend_schema_view(get=extend_schema(exclude=True))
class CompetitionFilesApi(CompetitionDataApi):
    """The CLI's name for the data listing (kept out of the schema: one operation, one name)."""


class CompetitionDataFileApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="competitions_data_file_download",
        parameters=[PHASE_PARAMETER],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/zip"): OpenApiTypes.BINARY,
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **error_responses(403),
        },
    )
    def get(self, request, slug: str, name: str):
        competition = selectors.competition_get(slug=slug, user=request.user)
        phase = selectors.competition_phase(competition=competition, slug=request.query_params.get("phase"))
        found = selectors.dataset_public_file(dataset=phase.dataset, name=name)
        if not request.user.is_authenticated:
            raise PermissionDenied("Log in and join the competition to download its data.")
        if not selectors.competition_can_download(competition=competition, user=request.user):
            raise PermissionDenied("Join the competition (accepting its rules) to download its data.")
        if name == "sample_submission.csv":
            return _csv_response(
                selectors.sample_submission_for(competition=competition, dataset=phase.dataset), name
            )
        return FileResponse(
            found.file.open("rb"), as_attachment=True, filename=name, content_type=_content_type(name)
        )


def _content_type(name: str) -> str:
    """CSVs, an image dataset's archives (.zip) and its decoded arrays (.npy)."""
    suffix = name.rsplit(".", 1)[-1]
    return {"csv": "text/csv", "zip": "application/zip"}.get(suffix, "application/octet-stream")


def _csv_response(data: bytes, name: str):
    from django.http import HttpResponse

    response = HttpResponse(data, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- datasets ------------------------------------------------------------------------------


class IsStaff(permissions.BasePermission):
    message = "Only staff may upload datasets."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class DatasetListCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = Pagination

    def get_permissions(self):
        if self.request.method == "POST":
            return [permissions.IsAuthenticated(), IsStaff()]
        return [permissions.AllowAny()]

    def initialize_request(self, request, *args, **kwargs):
        # The cap must be in place before anything reads the body.
        if request.method == "POST":
            self.capped = install_capped_handler(request, max_bytes=settings.PODIUM_MAX_DATASET_FILE_BYTES)
        return super().initialize_request(request, *args, **kwargs)

    class DatasetUploadInput(serializers.Serializer):
        # Empty files go on to the dataset validator, whose message names the file.
        train_file = serializers.FileField(
            allow_empty_file=True, help_text="train.csv: id, features and the target"
        )
        test_file = serializers.FileField(
            required=False,
            allow_empty_file=True,
            help_text="test.csv with its labels; without it, test_fraction of train is held out",
        )
        slug = serializers.SlugField(max_length=64)
        title = serializers.CharField(max_length=200)
        task_type = serializers.ChoiceField(choices=TaskType.choices)
        target_column = serializers.CharField(max_length=100)
        id_column = serializers.CharField(max_length=100, default="id")
        test_fraction = serializers.FloatField(required=False, min_value=0.01, max_value=0.99)
        split_seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        license = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        metric = serializers.CharField(required=False, allow_blank=True, default="")
        categorical_columns = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            help_text="comma-separated feature columns holding category names (embedded by configs)",
        )
        text_column = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            max_length=100,
            help_text="a text dataset: the column of texts (train.csv has id, text and label columns)",
        )
        vocab_size = serializers.IntegerField(
            required=False, default=None, help_text="text: the tokenizer's vocabulary size (64-65536)"
        )
        max_length = serializers.IntegerField(
            required=False, default=None, help_text="text: tokens kept per text (4-1024)"
        )
        truncate = serializers.BooleanField(
            required=False, default=False, help_text="text: cut over-long texts instead of refusing them"
        )

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=DatasetListOutput(many=True),
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.dataset_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(DatasetListOutput(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": DatasetUploadInput},
        responses={201: DatasetUploadOutput},
    )
    def post(self, request):
        from datasets.upload import UploadError

        too_large = self._too_large_problems(request)
        if too_large:
            return Response(
                {"detail": "The upload was refused; nothing was stored.", "problems": too_large},
                status=status.HTTP_400_BAD_REQUEST,
            )
        data = self.DatasetUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        args["categorical_columns"] = split_columns(args.pop("categorical_columns"))
        try:
            dataset = services.dataset_create_from_upload(
                train_file=args.pop("train_file"),
                test_file=args.pop("test_file", None),
                metric=args.pop("metric") or None,
                **args,
            )
        except UploadError as exc:
            # This answer lists every located field (None where unknown) and the total, always.
            raise ApplicationError(
                "The upload was refused; nothing was stored.",
                extra={"problems": exc.as_dicts(), "total": exc.total},
            ) from None
        return Response(DatasetUploadOutput(dataset).data, status=status.HTTP_201_CREATED)

    def _too_large_problems(self, request) -> list[dict]:
        request.data  # noqa: B018  (parses the body through the capped handler)
        handler = getattr(self, "capped", None)
        names = {"train_file": "train.csv", "test_file": "test.csv"}
        limit = settings.PODIUM_MAX_DATASET_FILE_BYTES
        return [
            {
                "file": names.get(field, field),
                "row": None,
                "column": None,
                "message": f"the upload stopped: the file is larger than the limit of {limit:,} bytes",
            }
            for field in (handler.too_large if handler else [])
        ]


class ImageDatasetCreateApi(APIView):
    """An image dataset from a zip of PNG/JPEG files and `id,label` CSVs (staff only)."""

    parser_classes = [MultiPartParser, FormParser]
    permission_classes = [permissions.IsAuthenticated, IsStaff]
    # The form's file fields and the file each is called in a problem.
    FILE_NAMES = {"images_file": "images.zip", "train_file": "train.csv", "test_file": "test.csv"}

    def initialize_request(self, request, *args, **kwargs):
        # The cap must be in place before anything reads the body.
        if request.method == "POST":
            self.capped = install_capped_handler(request, max_bytes=settings.PODIUM_MAX_DATASET_FILE_BYTES)
        return super().initialize_request(request, *args, **kwargs)

    class ImageUploadInput(serializers.Serializer):
        # Empty files go on to the dataset validator, whose message names the file.
        images_file = serializers.FileField(
            allow_empty_file=True,
            help_text="images.zip: PNG or JPEG files named <id>.png / <id>.jpg, any folders",
        )
        train_file = serializers.FileField(allow_empty_file=True, help_text="train.csv: id,label")
        test_file = serializers.FileField(
            required=False,
            allow_empty_file=True,
            help_text="test.csv: id,label (labels hidden from participants); without it, test_fraction of train is held out",
        )
        slug = serializers.SlugField(max_length=64)
        title = serializers.CharField(max_length=200)
        task_type = serializers.ChoiceField(choices=TaskType.choices, default="classification")
        id_column = serializers.CharField(max_length=100, default="id")
        target_column = serializers.CharField(max_length=100, default="label")
        test_fraction = serializers.FloatField(required=False, min_value=0.01, max_value=0.99)
        split_seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)
        resize_height = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=512,
            help_text="resize every image to this height (with resize_width)",
        )
        resize_width = serializers.IntegerField(required=False, min_value=1, max_value=512)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        license = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        metric = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(
        request={"multipart/form-data": ImageUploadInput},
        responses={201: DatasetUploadOutput},
    )
    def post(self, request):
        from datasets.upload import UploadError

        request.data  # noqa: B018  (parses the body through the capped handler)
        limit = settings.PODIUM_MAX_DATASET_FILE_BYTES
        too_large = [
            {
                "file": self.FILE_NAMES.get(field, field),
                "row": None,
                "column": None,
                "message": f"the upload stopped: the file is larger than the limit of {limit:,} bytes",
            }
            for field in self.capped.too_large
        ]
        if too_large:
            raise ApplicationError(
                "The upload was refused; nothing was stored.",
                extra={"problems": too_large, "total": len(too_large)},
            )
        data = self.ImageUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        try:
            dataset = services.dataset_create_from_image_upload(
                images_file=args.pop("images_file"),
                train_file=args.pop("train_file"),
                test_file=args.pop("test_file", None),
                metric=args.pop("metric") or None,
                **args,
            )
        except UploadError as exc:
            raise ApplicationError(
                "The upload was refused; nothing was stored.",
                extra={"problems": exc.as_dicts(), "total": exc.total},
            ) from None
        return Response(DatasetUploadOutput(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[OpenApiParameter("version", int)], responses=DatasetDetailOutput)
    def get(self, request, slug: str):
        version = query_int(request.query_params, "version")
        dataset = selectors.dataset_get(slug=slug, user=request.user, version=version)
        return Response(DatasetDetailOutput(dataset).data)


class DatasetManifestApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(parameters=[OpenApiParameter("version", int)], responses=OpenApiTypes.OBJECT)
    def get(self, request, slug: str):
        version = query_int(request.query_params, "version")
        dataset = selectors.dataset_get(slug=slug, user=request.user, version=version)
        return Response(selectors.public_manifest(dataset))
