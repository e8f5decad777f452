"""Celery app. With REDIS_URL unset, settings make tasks run in-process (eager), so
the embedded default needs no broker; nothing's correctness waits on a periodic job."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
