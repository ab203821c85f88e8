"""The participants' lab API: ablations of their own scored model entries (thin views over
podium.lab's services and selectors)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from podium.api_schema import error_responses
from podium.lab import selectors, services
from podium.lab.models import RunStatus


class VariantOptionSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The variant's stable id, e.g. `activation:sigmoid`.")
    technique = serializers.CharField(help_text="Its family: activation, batchnorm, optimizer, …")
    change = serializers.CharField(help_text="What it changes, for people.")
    fits = serializers.BooleanField(
        help_text="Whether it trains under the competition's budget; false: refused."
    )
    problem = serializers.CharField(allow_null=True, help_text="Why it does not fit (the first problem).")


class QuotaSerializer(serializers.Serializer):
    daily = serializers.IntegerField(
        help_text="Model-epochs per UTC day the organisers allow (0: ablations off)."
    )
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    epochs_per_run = serializers.IntegerField(
        help_text="What each run (the baseline too) counts: the budget's epochs."
    )
    resets_at = serializers.DateTimeField()


class AblationOptionsOutputSerializer(serializers.Serializer):
    variants = VariantOptionSerializer(many=True)
    quota = QuotaSerializer()


class AblationCreateInputSerializer(serializers.Serializer):
    variants = serializers.ListField(
        child=serializers.CharField(max_length=100),
        allow_empty=True,
        max_length=services.MAX_ABLATION_VARIANTS + 1,
        help_text="The keys of the variants to train (from …/ablations/options/).",
    )


class AblationRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    technique = serializers.CharField()
    change = serializers.CharField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    attempt = serializers.IntegerField()
    score = serializers.FloatField(allow_null=True)
    score_ci = serializers.SerializerMethodField()
    diff = serializers.FloatField(allow_null=True, help_text="The score minus the baseline's (null for it).")
    diff_ci = serializers.SerializerMethodField()
    beyond_noise = serializers.BooleanField(
        allow_null=True, help_text="The paired 95% interval of the difference excludes 0."
    )
    parameters = serializers.IntegerField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True, help_text="Training time, the epochs' seconds summed.")
    error = serializers.CharField(source="error_message")

    def get_score_ci(self, run) -> list[float | None] | None:
        return [run.score_low, run.score_high] if run.score_low is not None else None

    def get_diff_ci(self, run) -> list[float | None] | None:
        return [run.diff_low, run.diff_high] if run.diff_low is not None else None


class AblationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    submission = serializers.IntegerField(source="submission_id")
    owner = serializers.CharField(source="owner.username")
    status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    cancelled_at = serializers.DateTimeField(allow_null=True)
    holdout = serializers.SerializerMethodField()
    model_epochs = serializers.IntegerField(help_text="What the daily quota was charged.")
    metric = serializers.SerializerMethodField()
    rows = serializers.SerializerMethodField()

    def get_status(self, ablation) -> str:
        return selectors.ablation_status(ablation)

    def get_holdout(self, ablation) -> dict:
        return {"fraction": ablation.holdout_fraction, "seed": ablation.holdout_seed}

    def get_metric(self, ablation) -> str | None:
        runs = list(ablation.runs.all())
        return runs[0].metric if runs else None

    def get_rows(self, ablation) -> list[dict]:
        return AblationRowSerializer(selectors.ablation_rows(ablation), many=True).data


class AblationDetailOutputSerializer(AblationOutputSerializer):
    curves = serializers.SerializerMethodField(
        help_text="Per variant key: epochs, train_loss, val_loss, val_metric and grad_norms {layer: [per epoch]}."
    )

    def get_curves(self, ablation) -> dict:
        return {run.key: selectors.run_curves(run) for run in selectors.ablation_rows(ablation)}


class AblationOptionsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: AblationOptionsOutputSerializer, **error_responses(400, 404)})
    def get(self, request, submission_id):
        options = selectors.ablation_options(user=request.user, submission_id=submission_id)
        return Response(AblationOptionsOutputSerializer(options).data)


class AblationListCreateApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: AblationOutputSerializer(many=True)})
    def get(self, request, submission_id):
        ablations = selectors.ablation_list(submission_id=submission_id, user=request.user)
        return Response(AblationOutputSerializer(ablations, many=True).data)

    @extend_schema(
        request=AblationCreateInputSerializer,
        responses={201: AblationDetailOutputSerializer, **error_responses(400, 403, 404, 429)},
    )
    def post(self, request, submission_id):
        serializer = AblationCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ablation = services.ablation_create(
            user=request.user, submission_id=submission_id, keys=serializer.validated_data["variants"]
        )
        ablation = selectors.ablation_get(ablation_id=ablation.pk, user=request.user)
        return Response(AblationDetailOutputSerializer(ablation).data, status=status.HTTP_201_CREATED)


class AblationDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: AblationDetailOutputSerializer, **error_responses(404)})
    def get(self, request, ablation_id):
        ablation = selectors.ablation_get(ablation_id=ablation_id, user=request.user)
        return Response(AblationDetailOutputSerializer(ablation).data)


class AblationCancelApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: AblationDetailOutputSerializer, **error_responses(404)})
    def post(self, request, ablation_id):
        services.ablation_cancel(user=request.user, ablation_id=ablation_id)
        ablation = selectors.ablation_get(ablation_id=ablation_id, user=request.user)
        return Response(AblationDetailOutputSerializer(ablation).data)
