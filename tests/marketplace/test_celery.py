"""The decision email travels the way it does in production: queued on commit to
the Redis broker and sent by a real Celery worker process."""

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

from marketplace import services
from marketplace.celery import app as celery_app
from tests.daphne import ROOT, subprocess_database_url
from tests.factories import WorkerProfileFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def reroute() -> None:
    """Celery reads task_routes into its router once (a cached property): read them again."""
    celery_app.amqp.flush_routes()
    celery_app.amqp.__dict__.pop("router", None)


@pytest.fixture
def celery_worker_output():
    queue = f"test-{uuid.uuid4().hex[:8]}"  # ours alone, whatever else uses this Redis
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "EMAIL_BACKEND": "console",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "marketplace",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(worker.stdout.readline, "")), daemon=True
    )
    reader.start()
    conf = celery_app.conf
    previous = (conf.task_always_eager, conf.task_default_queue, conf.task_routes)
    conf.task_always_eager = False
    # Every job to this worker's own queue, past the settings' fast/heavy routes.
    conf.task_default_queue = queue
    conf.task_routes = {"*": {"queue": queue}}
    reroute()
    try:
        yield lines
    finally:
        conf.task_always_eager, conf.task_default_queue, conf.task_routes = previous
        reroute()
        worker.terminate()
        worker.wait(timeout=15)


def test_decision_email_is_sent_by_the_worker_process(celery_worker_output, admin_user):
    profile = WorkerProfileFactory(user__username="mealea", user__email="mealea@example.org")
    services.decide_application(
        profile_id=profile.pk, actor=admin_user, action="approve", reason="Queued via Redis"
    )
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        output = "".join(celery_worker_output)
        if "succeeded" in output and "Queued via Redis" in output:
            break
        time.sleep(0.2)
    output = "".join(celery_worker_output)
    assert "To: mealea@example.org" in output, output[-3000:]
    assert "Queued via Redis" in output
    assert "marketplace.tasks.email_notification" in output
