from django.contrib import admin
from django.urls import include, path, reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from podium.status import api as status_api

# Django's error views, replaced: JSON under /api/, the site's pages elsewhere; a body past
# Django's limits (DATA_UPLOAD_MAX_MEMORY_SIZE) is a 413 with the limit in it.
handler400 = "podium.errors.bad_request"
handler403 = "podium.errors.permission_denied"
handler404 = "podium.errors.page_not_found"
handler500 = "podium.errors.server_error"

# The entry points of the API; the rest hangs off a competition (`{competition}…`).
API_INDEX = {
    "competitions": "competitions:list",
    "datasets": "competitions:datasets",
    "metrics": "competitions:metrics",
    "me": "accounts:me",
    "status": "status-api",
    "tokens": "accounts:tokens",
    "schema": "schema",
    "docs": "api-docs",
}


@extend_schema(
    responses=inline_serializer("ApiIndex", {name: serializers.URLField() for name in API_INDEX}),
    description="Links to the API's resources, its OpenAPI schema and its documentation.",
)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_index(request):
    return Response({name: request.build_absolute_uri(reverse(route)) for name, route in API_INDEX.items()})


api_patterns = [
    path("", api_index, name="api-index"),
    path("", include("podium.accounts.api_urls")),
    path("", include("podium.competitions.api_urls")),
    path("", include("podium.teams.api_urls")),
    path("", include("podium.submissions.api_urls")),
    path("", include("podium.leaderboards.api_urls")),
    path("", include("podium.operations.api_urls")),
    path("", include("podium.lab.api_urls")),
    path("status/", status_api.StatusApi.as_view(), name="status-api"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "worker/schema/",
        SpectacularAPIView.as_view(
            custom_settings={
                "TITLE": "Podium worker protocol",
                "DESCRIPTION": "The callbacks a training worker makes with its per-attempt "
                "`Authorization: Worker <token>` (docs/architecture.md, the worker protocol).",
                "PREPROCESSING_HOOKS": ["podium.api_operations.only_worker_endpoints"],
            }
        ),
        name="worker-schema",
    ),
    # The split view serves Swagger UI's start-up script as a file of its own: the CSP runs no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="web/api_docs.html"),
        name="api-docs",
    ),
]

urlpatterns = [
    path("healthz", status_api.healthz, name="healthz"),
    path("readyz", status_api.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include("podium.web.urls")),
]
