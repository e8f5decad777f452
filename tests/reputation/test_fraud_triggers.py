"""On submit, the cheap checks ask for a scan at once: twenty answers under the
floor, or a run of failed checks, reach the admins' queue without waiting for the
periodic job. Honest answers touch neither."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache

from marketplace.celery import app as celery_app
from reputation import fraud
from reputation.models import Flag
from tasks import work
from tasks.models import Assignment
from tests.work_helpers import published_set, vetted_workers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _celery_in_process():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def answer(worker, task_set, choice, *, seconds: float, captured):
    claim = work.claim_next_task(worker=worker, task_set_id=task_set.pk)
    # The claim was made `seconds` ago by the server's clock.
    Assignment.objects.filter(pk=claim.assignment.pk).update(
        claimed_at=claim.assignment.claimed_at - timedelta(seconds=seconds)
    )
    with captured(execute=True):
        work.submit_answer(
            worker=worker,
            assignment_id=claim.assignment.pk,
            answer=choice,
            submission_id=uuid.uuid4(),
        )
    return claim.assignment


def test_twenty_answers_under_the_floor_raise_the_flag_at_once(
    requester_org, requester, admin_user, django_capture_on_commit_callbacks
):
    animals = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=30,
        gold=5,
        gold_ratio_permille=0,
        assignments_per_task=1,
    )
    speeder, careful = vetted_workers(2, prefix="t")
    for index in range(19):
        answer(speeder, animals, "cat", seconds=0.2, captured=django_capture_on_commit_callbacks)
        if index < 5:
            answer(careful, animals, "dog", seconds=9, captured=django_capture_on_commit_callbacks)
    assert not Flag.objects.exists()
    answer(speeder, animals, "cat", seconds=0.2, captured=django_capture_on_commit_callbacks)
    flag = Flag.objects.get(signal=Flag.Signal.TOO_FAST)
    assert flag.worker_id == speeder.pk
    assert cache.get(f"fraud:fast:{careful.pk}") is None  # honest answers count nothing


def test_a_run_of_failed_checks_raises_the_flag_at_once(
    requester_org, requester, admin_user, django_capture_on_commit_callbacks
):
    checks = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=40,
        gold=fraud.GOLD_STREAK + 2,
        gold_ratio_permille=500,
    )
    (clicker,) = vetted_workers(1, prefix="c")
    failed = 0
    while failed < fraud.GOLD_STREAK:
        assert not Flag.objects.filter(signal=Flag.Signal.GOLD_FAILURES).exists()
        assignment = answer(
            clicker, checks, "dog", seconds=6, captured=django_capture_on_commit_callbacks
        )
        failed += assignment.is_gold  # gold answers are "cat"
    flag = Flag.objects.get(signal=Flag.Signal.GOLD_FAILURES)
    assert (flag.worker_id, flag.evidence["longest_streak"]) == (clicker.pk, fraud.GOLD_STREAK)
