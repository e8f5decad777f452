"""The periodic jobs: beat runs the hold hourly and the payout run weekly; the jobs
do what the commands do; what a cancelled set must keep in escrow."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from marketplace.celery import app
from payouts import earnings, tasks
from payouts.models import PayoutRun
from payouts.runs import next_run_at
from tests.factories import WorkerProfileFactory
from tests.payouts.helpers import available, paid, submitted
from tests.work_helpers import published_set

pytestmark = pytest.mark.django_db


def test_beat_schedules_the_hold_hourly_and_the_run_weekly(settings):
    schedule = app.conf.beat_schedule
    assert schedule["payouts-mature-earnings"]["task"] == "payouts.tasks.mature_held_earnings"
    weekly = schedule["payouts-weekly-run"]
    assert weekly["task"] == "payouts.tasks.weekly_payout_run"
    assert weekly["schedule"].day_of_week == {settings.PAYOUT_RUN_WEEKDAY % 7}


def test_the_next_payout_date_is_the_coming_run_day(settings):
    settings.PAYOUT_RUN_WEEKDAY, settings.PAYOUT_RUN_HOUR = 1, 2  # Mondays 02:00 UTC
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert next_run_at(wednesday) == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    monday_early = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    assert next_run_at(monday_early) == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def test_the_jobs_mature_and_run(requester_org, requester, admin_user, centre, settings):
    settings.PAYOUT_MINIMUMS_MINOR = {"partner_centre": {"USD": 10}}
    task_set = published_set(
        organization=requester_org, requester=requester, admin=admin_user, regular=5, gold=5
    )
    sokha = WorkerProfileFactory().user
    for _ in range(3):
        paid(task_set, sokha, when=timezone.now() - timedelta(days=9))
    assert tasks.mature_held_earnings.delay().get() == 1
    assert available(sokha) == 15
    tasks.weekly_payout_run.delay().get()
    assert PayoutRun.objects.get().trigger == "beat"


def test_a_cancelled_set_keeps_only_what_is_still_owed(requester_org, requester, admin_user):
    task_set = published_set(
        organization=requester_org, requester=requester, admin=admin_user, regular=5, gold=5
    )
    sokha = WorkerProfileFactory().user
    paid(task_set, sokha)  # paid already: 5 + 1 fee left the escrow
    submitted(task_set, sokha, review="pending")  # not yet reviewed: still owed
    assert earnings.still_owed_minor(task_set) == 5 + 1  # ceil(20% of 10) - 1 taken
