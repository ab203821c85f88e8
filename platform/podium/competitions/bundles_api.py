"""Competition bundles over the API: export (the competition's hosts and site staff) and import
(site staff). Thin views over competitions.bundle_export and competitions.bundle_import."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets.streams import TooLarge as StreamTooLarge
from datasets.streams import read_capped
from datasets.zips import ZipLimits
from podium.api_schema import error_responses
from podium.competitions import selectors
from podium.competitions.api import CompetitionDetailOutput
from podium.competitions.bundle_export import bundle_filename, competition_bundle
from podium.competitions.bundle_import import competition_import
from podium.competitions.hosting_api import IsStaffToManage
from podium.errors import ApplicationError, TooLarge


class CompetitionBundleApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="competitions_bundle_export",
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The bundle: competition.yaml (the competition, its phases, metrics, limits, "
                "budgets, windows, join policy, rules, ladder, public fraction and split seed; every file "
                "with its sha256) and the files it names: each dataset version's files, hidden labels "
                "included, and the stored answer keys.",
            ),
            **error_responses(403),
        },
        description="Export the competition as one zip to import on another server (its hosts and site "
        "staff only: the bundle holds the hidden labels).",
    )
    def get(self, request, slug: str):
        competition = selectors.competition_get_managed(slug=slug, user=request.user)
        response = HttpResponse(competition_bundle(competition=competition), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{bundle_filename(competition)}"'
        response["Cache-Control"] = "private, no-store"
        return response


class BundleImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="a bundle exported by GET /api/competitions/{slug}/bundle/")


class BundleImportQuery(serializers.Serializer):
    slug = serializers.SlugField(max_length=64, required=False, help_text="import under this slug instead")


class CompetitionImportApi(APIView):
    permission_classes = [permissions.IsAuthenticated, IsStaffToManage]
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="competitions_import",
        request={"multipart/form-data": BundleImportInput},
        parameters=[
            OpenApiParameter(
                "slug", str, description="import under this slug (when the bundle's is taken here)"
            )
        ],
        responses={201: CompetitionDetailOutput, **error_responses(403, 413)},
        description="Import a competition bundle (site staff): its datasets (an identical version here "
        "is reused), the competition, its phases and answer keys exactly as exported, with the "
        "validation of competition and phase creation. A bad bundle answers 400 with every problem "
        "listed (missing files, sha256 mismatches, unknown metrics, YAML that is not a mapping, unsafe "
        "zip paths, decompression bombs, a taken slug), and nothing is stored.",
    )
    def post(self, request):
        query = BundleImportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        form = BundleImportInput(data=request.data)
        form.is_valid(raise_exception=True)
        limit = settings.PODIUM_MAX_DATASET_FILE_BYTES
        try:
            data = read_capped(form.validated_data["file"], limit)
        except StreamTooLarge:
            raise TooLarge(
                f"The bundle is larger than the limit of {limit:,} bytes; nothing was stored.",
                extra={"limit": limit},
            ) from None
        if not data:
            raise ApplicationError("The bundle is empty.", code="invalid_bundle")
        competition = competition_import(
            data=data,
            actor=request.user,
            slug=query.validated_data.get("slug"),
            limits=ZipLimits(max_member_bytes=limit, max_total_bytes=4 * limit),
        )
        detail = CompetitionDetailOutput(selectors.competition_get(slug=competition.slug, user=request.user))
        return Response(detail.data, status=status.HTTP_201_CREATED)
