"""Checks shown back to a worker are retired from their set's live pool (tasks.checks):
when and for whom, and when the set's requesters were told it is running low. No SQL
change: retiring also sets withdrawn_at, which work_claim already skips."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0016_work_claim_gold_branch"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="retired_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="task",
            name="retired_for",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="taskset",
            name="live_checks_low_notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
