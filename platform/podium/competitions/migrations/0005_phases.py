"""Phases: every existing competition gets one phase, every setting left empty (so the
competition's own), its reveal copied: participants see no change."""

import django.db.models.deletion
from django.db import migrations, models

import podium.competitions.models


def one_phase_per_competition(apps, schema_editor):
    Competition = apps.get_model("competitions", "Competition")
    Phase = apps.get_model("competitions", "Phase")
    existing = set(Phase.objects.values_list("competition_id", flat=True))
    Phase.objects.bulk_create(
        Phase(
            competition_id=competition.pk,
            number=1,
            slug="main",
            title="Main phase",
            private_revealed_at=competition.private_revealed_at,
        )
        for competition in Competition.objects.exclude(pk__in=existing).only("pk", "private_revealed_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("competitions", "0004_extra_metrics"),
    ]

    operations = [
        migrations.AlterField(
            model_name="competition",
            name="ends_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="Phase",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveSmallIntegerField()),
                ("slug", models.SlugField(max_length=64)),
                ("title", models.CharField(max_length=200)),
                ("description", models.TextField(blank=True)),
                ("starts_at", models.DateTimeField(blank=True, null=True)),
                ("ends_at", models.DateTimeField(blank=True, null=True)),
                ("late_entries", models.BooleanField(default=False)),
                ("daily_limit", models.PositiveIntegerField(blank=True, null=True)),
                ("total_limit", models.PositiveIntegerField(blank=True, null=True)),
                ("max_final_picks", models.PositiveIntegerField(blank=True, null=True)),
                ("accepts_predictions", models.BooleanField(blank=True, null=True)),
                ("accepts_configs", models.BooleanField(blank=True, null=True)),
                ("budget_epochs", models.PositiveIntegerField(blank=True, null=True)),
                ("budget_params", models.PositiveBigIntegerField(blank=True, null=True)),
                ("budget_seconds", models.PositiveIntegerField(blank=True, null=True)),
                ("split_seed", models.PositiveIntegerField(default=0)),
                ("public_fraction", models.FloatField(blank=True, null=True)),
                (
                    "answer_key",
                    models.FileField(
                        blank=True, max_length=300, upload_to=podium.competitions.models.phase_answer_key_path
                    ),
                ),
                ("answer_key_sha256", models.CharField(blank=True, max_length=64)),
                ("n_public", models.PositiveIntegerField(default=0)),
                ("n_private", models.PositiveIntegerField(default=0)),
                ("private_revealed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "competition",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="phases",
                        to="competitions.competition",
                    ),
                ),
                (
                    "dataset",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="competitions.dataset",
                    ),
                ),
            ],
            options={
                "ordering": ["competition", "number"],
                "constraints": [
                    models.UniqueConstraint(fields=("competition", "number"), name="phase_number_unique"),
                    models.UniqueConstraint(fields=("competition", "slug"), name="phase_slug_unique"),
                ],
            },
        ),
        migrations.RunPython(one_phase_per_competition, migrations.RunPython.noop),
    ]
