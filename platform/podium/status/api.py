"""`/healthz` (the process answers), `/readyz` (the database and the broker answer) and
`GET /api/status/` (the platform's status, public)."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from podium.status import probes, selectors


@never_cache
@require_GET
def healthz(request):
    """Liveness: this process serves requests. Touches no other service, so a database outage
    never gets every web process restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Readiness: the database and the broker answer now (503 naming the one that does not)."""
    checks = {"database": probes.database_problem(), "broker": probes.broker_problem()}
    body = {name: "ok" if problem is None else problem for name, problem in checks.items()}
    ready = all(problem is None for problem in checks.values())
    body["status"] = "ok" if ready else "unavailable"
    return JsonResponse(body, status=200 if ready else 503)


class QueueStatusSerializer(serializers.Serializer):
    name = serializers.CharField()
    depth = serializers.IntegerField(allow_null=True, help_text="Messages waiting; null: the broker is down")
    workers = serializers.IntegerField(
        allow_null=True, help_text="Workers consuming it now; null: not known on this broker"
    )


class StatusApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        summary="The platform's status",
        description=(
            "Workers online per queue (Celery's inspection, a one-second wait), queue depths, "
            "entries in flight, the median wait for a worker and time to a score over the last "
            "hour, failures of the last 24 hours by reason, and the deployed version. Measured at "
            "most every `PODIUM_STATUS_CACHE_S` seconds; names no entry, user or score."
        ),
        responses=inline_serializer(
            "PlatformStatus",
            {
                "version": serializers.CharField(),
                "deployed_at": serializers.CharField(allow_null=True),
                "checked_at": serializers.DateTimeField(),
                "database": serializers.CharField(),
                "broker": serializers.ChoiceField(choices=["ok", "unreachable"]),
                "queues": QueueStatusSerializer(many=True),
                "workers_known": serializers.BooleanField(),
                "in_flight": serializers.DictField(child=serializers.IntegerField()),
                "last_hour": serializers.DictField(),
                "failures_last_24h": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request):
        return Response(selectors.platform_status())
