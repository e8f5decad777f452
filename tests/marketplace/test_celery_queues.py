"""Jobs a person waits on (settling, check scoring, a set's results, email) and long
ones (the fraud scan, uploads, payout jobs) go to separate queues, each with its own
workers (docker-compose.yml), so a long job never delays settling."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from kombu import Queue

from marketplace.celery import app
from tasks import work
from tasks.models import Task
from tests.daphne import ROOT, subprocess_database_url
from tests.work_helpers import published_set, submit_committed, vetted_workers

FAST = [
    "tasks.tasks.settle_closed_task",
    "tasks.tasks.settle_closed_tasks",
    "tasks.tasks.settle_overdue_tasks",
    "reputation.tasks.score_checks",
    "tasks.tasks.aggregate_task_set",
    "tasks.tasks.return_leftover_escrow",
    "marketplace.tasks.email_notification",
]
HEAVY = [
    "reputation.tasks.scan_fraud_signals",
    "tasks.tasks.process_upload_job",
    "payouts.tasks.mature_held_earnings",
    "payouts.tasks.weekly_payout_run",
]


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize("name", FAST)
def test_latency_sensitive_jobs_go_to_the_fast_queue(name):
    assert queue_of(name) == "fast"


@pytest.mark.parametrize("name", HEAVY)
def test_long_jobs_go_to_the_heavy_queue(name):
    assert queue_of(name) == "heavy"


def test_every_job_of_ours_names_its_queue():
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == set(FAST) | set(HEAVY), "route the new job in CELERY_TASK_ROUTES"
    assert ours <= settings.CELERY_TASK_ROUTES.keys()


def test_a_job_routed_nowhere_cannot_hold_up_settling():
    assert queue_of("some.future.job") == "heavy"


def waiting(queue: str) -> int:
    with app.connection_for_write() as connection:
        declared = Queue(queue).bind(connection.default_channel).queue_declare(passive=True)
        return declared.message_count


def purge(*queues: str) -> None:
    with app.connection_for_write() as connection:
        for queue in queues:
            connection.default_channel.queue_purge(queue)


@pytest.fixture
def jobs_to_the_broker():
    """Jobs go to Redis, as in the compose stack, instead of running in this process."""
    purge("fast", "heavy")
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
        purge("fast", "heavy")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_fast_worker_settles_while_long_jobs_wait_in_the_heavy_queue(
    jobs_to_the_broker, requester_org, requester, admin_user
):
    from reputation.tasks import scan_fraud_signals

    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=1,
        assignments_per_task=1,
        gold_ratio_permille=0,
    )
    # Three scans ahead of the settling job: behind them on one queue it would wait.
    for _ in range(3):
        scan_fraud_signals.delay()
    (worker,) = vetted_workers(1)
    claim = work.claim_next_task(worker=worker, task_set_id=task_set.pk)
    submit_committed(worker, claim.assignment, "cat")  # closes the task: a settling job
    task = Task.objects.get(task_set=task_set, is_gold=False)
    assert task.is_open is False and task.settled_at is None
    assert waiting("fast") == 1

    # The compose stack's fast worker (-Q fast), on its own: nothing takes the scans.
    fast_worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "marketplace",
            "worker",
            "-Q",
            "fast",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": subprocess_database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90  # a busy shared machine starts Celery slowly
        while task.settled_at is None and time.monotonic() < deadline:
            time.sleep(0.5)
            task.refresh_from_db()
    finally:
        fast_worker.terminate()
        fast_worker.wait(timeout=30)
    assert task.settled_at is not None, "the fast worker did not settle the task"
    assert waiting("heavy") == 3
