"""`GET /api/metrics/`: the metrics this server scores, built-in and plugins, with what each
accepts, so a script can choose one before creating a competition."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from podium.competitions.metric_choice import metric_catalogue
from podium.competitions.models import TaskType


class MetricOutput(serializers.Serializer):
    name = serializers.CharField(help_text="The name a competition's `metric` or `extra_metrics` uses.")
    title = serializers.CharField()
    description = serializers.CharField(help_text="What it measures, and its value where it is degenerate.")
    task_type = serializers.ChoiceField(choices=TaskType.choices)
    higher_is_better = serializers.BooleanField()
    prediction_formats = serializers.ListField(
        child=serializers.ChoiceField(choices=["label", "proba", "value"]),
        help_text="The entry formats it scores: class labels, class probabilities, or numbers. A label "
        "metric also scores a probability file through its labels.",
    )
    min_classes = serializers.IntegerField(allow_null=True)
    max_classes = serializers.IntegerField(allow_null=True)
    values_above = serializers.FloatField(
        allow_null=True, help_text="Targets and predictions must be greater than this (RMSLE: -1)."
    )
    interval = serializers.CharField(help_text="How the public score's bootstrap interval is computed.")
    source = serializers.CharField(help_text="`built-in`, or `plugin <distribution>:<entry point>`.")


class MetricListApi(APIView):
    """The metric library: every metric a competition can rank on or show as a column."""

    permission_classes = [AllowAny]

    @extend_schema(responses=MetricOutput(many=True))
    def get(self, request):
        return Response(metric_catalogue())
