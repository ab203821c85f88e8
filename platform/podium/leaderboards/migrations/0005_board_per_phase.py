"""One board per phase (and a late board per phase): every existing row to its competition's first phase."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def rows_to_first_phase(apps, schema_editor):
    BoardEntry = apps.get_model("leaderboards", "BoardEntry")
    Phase = apps.get_model("competitions", "Phase")
    first = Phase.objects.filter(number=1, competition_id=models.OuterRef("competition_id")).values("pk")[:1]
    BoardEntry.objects.filter(phase__isnull=True).update(phase_id=models.Subquery(first))


class Migration(migrations.Migration):
    dependencies = [
        ("competitions", "0005_phases"),
        ("leaderboards", "0004_extra_metrics"),
        ("submissions", "0007_submission_phase"),
        ("teams", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="boardentry",
            name="board_one_row_per_user",
        ),
        migrations.RemoveConstraint(
            model_name="boardentry",
            name="board_one_row_per_team",
        ),
        migrations.RemoveIndex(
            model_name="boardentry",
            name="board_public_rank",
        ),
        migrations.RemoveIndex(
            model_name="boardentry",
            name="board_private_rank",
        ),
        migrations.AddField(
            model_name="boardentry",
            name="late",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="boardentry",
            name="phase",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="board_entries",
                to="competitions.phase",
            ),
        ),
        migrations.RunPython(rows_to_first_phase, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="boardentry",
            name="phase",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="board_entries",
                to="competitions.phase",
            ),
        ),
        migrations.AddIndex(
            model_name="boardentry",
            index=models.Index(
                condition=models.Q(("rank_key__isnull", False)),
                fields=["phase", "late", "rank_key", "submitted_at", "submission"],
                include=("id",),
                name="board_phase_public_rank",
            ),
        ),
        migrations.AddIndex(
            model_name="boardentry",
            index=models.Index(
                condition=models.Q(("private_rank_key__isnull", False)),
                fields=["phase", "late", "private_rank_key", "private_submitted_at", "private_submission"],
                include=("id",),
                name="board_phase_private_rank",
            ),
        ),
        migrations.AddConstraint(
            model_name="boardentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("team__isnull", True)),
                fields=("phase", "late", "user"),
                name="board_one_row_per_user_phase",
            ),
        ),
        migrations.AddConstraint(
            model_name="boardentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("team__isnull", False)),
                fields=("phase", "late", "team"),
                name="board_one_row_per_team_phase",
            ),
        ),
    ]
