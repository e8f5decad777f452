"""Celery app. With REDIS_URL unset, settings make tasks run in-process (eager), so
the embedded default needs no broker; nothing's correctness waits on a periodic job."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _beat_schedule() -> dict:
    """Closed tasks whose settling job was lost are settled within a couple of
    minutes; fraud signals every few minutes; earnings clear the hold hourly; the
    payout run is weekly (settings say when)."""
    from celery.schedules import crontab
    from django.conf import settings

    return {
        "tasks-settle-overdue": {
            "task": "tasks.tasks.settle_overdue_tasks",
            "schedule": crontab(),  # every minute
        },
        "reputation-fraud-scan": {
            "task": "reputation.tasks.scan_fraud_signals",
            "schedule": settings.FRAUD_SCAN_MINUTES * 60,  # seconds
        },
        "payouts-mature-earnings": {
            "task": "payouts.tasks.mature_held_earnings",
            "schedule": crontab(minute=17),
        },
        "payouts-weekly-run": {
            "task": "payouts.tasks.weekly_payout_run",
            "schedule": crontab(
                minute=0,
                hour=settings.PAYOUT_RUN_HOUR,
                day_of_week=settings.PAYOUT_RUN_WEEKDAY % 7,  # crontab: 0 = Sunday
            ),
        },
    }


@app.on_after_configure.connect
def _add_beat_schedule(sender, **kwargs):
    sender.conf.beat_schedule = {**_beat_schedule(), **(sender.conf.beat_schedule or {})}
