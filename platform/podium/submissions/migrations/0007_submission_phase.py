"""Entries belong to a phase: every existing entry to its competition's first phase."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def entries_to_first_phase(apps, schema_editor):
    Submission = apps.get_model("submissions", "Submission")
    Phase = apps.get_model("competitions", "Phase")
    first = Phase.objects.filter(number=1, competition_id=models.OuterRef("competition_id")).values("pk")[:1]
    Submission.objects.filter(phase__isnull=True).update(phase_id=models.Subquery(first))


class Migration(migrations.Migration):
    dependencies = [
        ("competitions", "0005_phases"),
        ("submissions", "0006_submission_training_report"),
        ("teams", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="submission",
            name="is_late",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="submission",
            name="phase",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="submissions",
                to="competitions.phase",
            ),
        ),
        migrations.AddIndex(
            model_name="submission",
            index=models.Index(fields=["phase", "user", "created_at"], name="sub_phase_user_created"),
        ),
        migrations.RunPython(entries_to_first_phase, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="submission",
            name="phase",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="submissions",
                to="competitions.phase",
            ),
        ),
    ]
