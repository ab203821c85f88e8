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


class DeviceStatusSerializer(serializers.Serializer):
    """common.protocol.DeviceStats, and the trainer it belongs to."""

    worker = serializers.CharField(help_text="The trainer's Celery node name")
    device = serializers.CharField(help_text="cpu, or cuda:N with the GPU's name")
    packing = serializers.BooleanField(help_text="Whether entries of one architecture train together")
    in_flight = serializers.IntegerField(
        help_text="Entries the trainer holds: waiting for the device and training"
    )
    waiting = serializers.IntegerField()
    training = serializers.IntegerField()
    packs = serializers.ListField(
        child=serializers.IntegerField(), help_text="The size of each pack training now (1: an entry alone)"
    )
    packs_done = serializers.IntegerField()
    entries_done = serializers.IntegerField()
    mean_pack_size = serializers.FloatField(allow_null=True, help_text="Over the last 100 packs")
    memory_admitted_bytes = serializers.IntegerField(
        help_text="The memory estimates of the packs training now"
    )
    memory_capacity_bytes = serializers.IntegerField(
        allow_null=True, help_text="What the trainer may admit: a fraction of the free memory"
    )
    memory_used_bytes = serializers.IntegerField(
        allow_null=True, help_text="GPU: the device's memory in use; CPU: the trainer's resident memory"
    )
    memory_total_bytes = serializers.IntegerField(allow_null=True)
    utilisation_percent = serializers.FloatField(
        allow_null=True,
        help_text="GPU: the share of time a kernel ran (NVML); CPU: the trainer's CPU time (100 = one core)",
    )


class StatusApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        summary="The platform's status",
        description=(
            "Workers online per queue (Celery's inspection, a one-second wait), each trainer's "
            "devices (entries in flight, the packs training and their sizes, memory, utilisation), "
            "queue depths, entries in flight, the median wait for a worker and time to a score over "
            "the last hour, failures of the last 24 hours by reason, and the deployed version. "
            "Measured at most every `PODIUM_STATUS_CACHE_S` seconds; names no entry, user or score."
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
                "devices": DeviceStatusSerializer(many=True),
                "in_flight": serializers.DictField(child=serializers.IntegerField()),
                "last_hour": serializers.DictField(),
                "failures_last_24h": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request):
        return Response(selectors.platform_status())
