"""Team and TeamMembership now belong to the teams app (teams 0001). Their tables stay: this
only drops them from accounts' state, once nothing in the state points at them any more."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_initial"),
        ("teams", "0001_initial"),
        ("submissions", "0004_submission_team_in_teams_app"),
        ("leaderboards", "0003_boardentry_team_in_teams_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="TeamMembership"),
                migrations.DeleteModel(name="Team"),
            ],
            database_operations=[],
        ),
    ]
