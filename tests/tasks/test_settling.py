"""A closed task is settled after its closing answer commits, by a job: once, however
often and however concurrently the job runs; by the safety net when the job is lost;
reopened for one more answer when consensus is unsure; and the set completes only
once every task is settled."""

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplace.celery import app
from payouts.models import Earning, JournalEntry
from payouts.reconcile import differences
from payouts.selectors import cached_balance_mismatches, unbalanced_entries
from reputation.models import ReputationEvent
from tasks import settling, work
from tasks import tasks as jobs
from tasks.models import Assignment, Task, TaskSet
from tests.concurrency import errors, race
from tests.work_helpers import published_set, submit_committed, vetted_workers


@pytest.fixture
def lost_jobs(monkeypatch):
    """Queuing a settling job does nothing: as if the broker lost every one."""
    monkeypatch.setattr(jobs.settle_closed_tasks, "delay", lambda *args, **kwargs: None)


def small_set(
    requester_org, requester, admin_user, *, regular=1, assignments_per_task=3, **fields
) -> TaskSet:
    """A funded, published set of a few regular tasks (and gold nobody is served)."""
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=regular,
        gold=5,
        assignments_per_task=assignments_per_task,
        gold_ratio_permille=0,
        **fields,
    )


@pytest.fixture
def unsure_set(requester_org, requester, admin_user) -> TaskSet:
    """Its one task wants 90% confidence, and may get one answer more for it."""
    return small_set(
        requester_org,
        requester,
        admin_user,
        target_confidence_permille=900,
        max_extra_assignments=1,
    )


def answer_all(task_set: TaskSet, answers: list[str]) -> list[Task]:
    """Vetted workers answer the set's regular tasks in turn; returns those tasks."""
    for worker, value in zip(vetted_workers(len(answers)), answers, strict=True):
        claim = work.claim_next_task(worker=worker, task_set_id=task_set.pk)
        submit_committed(worker, claim.assignment, value)
    return list(task_set.tasks.filter(is_gold=False).order_by("pk"))


def assert_settled_once(task: Task) -> None:
    task.refresh_from_db()
    assert task.settled_at is not None and not task.is_open
    answers = Assignment.objects.filter(task=task)
    assert not answers.filter(review_status="pending").exists()
    # Paid in one balanced entry, keyed by the task.
    [entry] = JournalEntry.objects.filter(earnings__assignment__task=task).distinct()
    assert entry.idempotency_key == f"earning:task:{task.pk}"
    assert entry.earnings.count() == answers.count()
    assert (
        ReputationEvent.objects.filter(assignment__task=task, source="consensus").count()
        == answers.count()
    )
    assert unbalanced_entries() == [] and cached_balance_mismatches() == []
    assert differences() == []


@pytest.mark.django_db
def test_the_answer_that_closes_a_task_leaves_settling_to_the_job(
    requester_org, requester, admin_user, lost_jobs
):
    task_set = small_set(requester_org, requester, admin_user)
    [task] = answer_all(task_set, ["cat", "cat", "cat"])
    assert not task.is_open and task.settled_at is None
    assert set(Assignment.objects.filter(task=task).values_list("review_status", flat=True)) == {
        "pending"
    }
    assert not Earning.objects.exists()
    # Every task is closed, but one is unsettled: the set is not complete yet.
    work.complete_if_finished(task_set_id=task_set.pk)
    task_set.refresh_from_db()
    assert task_set.status == TaskSet.Status.PUBLISHED

    assert settling.settle_and_complete(task_id=task.pk) == "settled"
    assert_settled_once(task)
    task_set.refresh_from_db()
    assert task_set.status == TaskSet.Status.COMPLETED
    # Again: nothing to do, nothing paid twice.
    assert settling.settle_and_complete(task_id=task.pk) is None
    assert_settled_once(task)


@pytest.mark.django_db(transaction=True)
def test_jobs_racing_on_one_task_settle_it_once(requester_org, requester, admin_user, lost_jobs):
    task_set = small_set(requester_org, requester, admin_user)
    [task] = answer_all(task_set, ["cat", "cat", "dog"])
    outcomes = race(*[lambda: settling.settle_and_complete(task_id=task.pk)] * 4)
    assert errors(outcomes) == []
    assert sorted(outcomes, key=str) == [None, None, None, "settled"]
    assert_settled_once(task)
    task_set.refresh_from_db()
    assert task_set.status == TaskSet.Status.COMPLETED


@pytest.mark.django_db
def test_the_safety_net_settles_a_task_whose_job_was_lost(
    requester_org, requester, admin_user, lost_jobs
):
    task_set = small_set(requester_org, requester, admin_user)
    [task] = answer_all(task_set, ["cat", "cat", "cat"])
    # Within the minute the job normally takes, the safety net leaves the task alone.
    assert settling.overdue_task_ids() == []
    later = timezone.now() + settling.SAFETY_NET_AFTER + timedelta(seconds=1)
    assert settling.overdue_task_ids(now=later) == [task.pk]
    assert jobs.settle_overdue_tasks.apply(kwargs={}).get() == 0  # the job runs "now"
    assert settling.settle_overdue_tasks(now=later) == 1
    assert_settled_once(task)
    task_set.refresh_from_db()
    assert task_set.status == TaskSet.Status.COMPLETED
    assert settling.overdue_task_ids(now=later) == []


@pytest.mark.django_db
def test_a_task_that_fails_to_settle_does_not_hold_back_the_others(
    requester_org, requester, admin_user, lost_jobs, monkeypatch
):
    task_set = small_set(requester_org, requester, admin_user, regular=2, assignments_per_task=1)
    first, second = answer_all(task_set, ["cat", "cat"])
    real = settling.settle_closed_task

    def failing_for_the_first(*, task_id):
        if task_id == first.pk:
            raise RuntimeError("as if a bug")
        return real(task_id=task_id)

    monkeypatch.setattr(settling, "settle_closed_task", failing_for_the_first)
    later = timezone.now() + settling.SAFETY_NET_AFTER + timedelta(seconds=1)
    assert settling.settle_overdue_tasks(now=later) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.settled_at is None and second.settled_at is not None
    assert settling.overdue_task_ids(now=later) == [first.pk]  # tried again next run


def test_beat_runs_the_safety_net_every_minute():
    entry = app.conf.beat_schedule["tasks-settle-overdue"]
    assert entry["task"] == "tasks.tasks.settle_overdue_tasks"
    assert entry["schedule"].minute == set(range(60))


@pytest.mark.django_db
def test_an_unsure_task_is_reopened_by_its_job_and_settled_after_its_extra_answer(
    unsure_set, lost_jobs
):
    task_set = unsure_set
    [task] = answer_all(task_set, ["cat", "dog", "bird"])
    assert settling.settle_and_complete(task_id=task.pk) == "reopened"
    task.refresh_from_db()
    assert task.is_open and task.extra_assignments == 1 and task.settled_at is None
    assert not Assignment.objects.filter(task=task).exclude(review_status="pending").exists()
    assert settling.settle_and_complete(task_id=task.pk) is None  # open: nothing to do
    task_set.refresh_from_db()
    assert task_set.status == TaskSet.Status.PUBLISHED

    [fourth] = vetted_workers(1, prefix="extra")
    claim = work.claim_next_task(worker=fourth, task_set_id=task_set.pk)
    assert claim.assignment.task_id == task.pk
    submit_committed(fourth, claim.assignment, "cat")
    assert settling.settle_and_complete(task_id=task.pk) == "settled"  # the cap is reached
    assert_settled_once(task)
    task_set.refresh_from_db()
    assert task_set.status == TaskSet.Status.COMPLETED


@pytest.mark.django_db
def test_a_cancelled_set_settles_an_unsure_task_with_the_answers_it_has(
    unsure_set, requester, lost_jobs
):
    from tasks import services

    task_set = unsure_set
    [task] = answer_all(task_set, ["cat", "dog", "bird"])
    services.cancel_task_set(task_set_id=task_set.pk, actor=requester)
    # No one can give the extra answer any more: reopening would leave it unpaid.
    assert settling.settle_and_complete(task_id=task.pk) == "settled"
    task.refresh_from_db()
    assert not task.is_open and task.extra_assignments == 0
    assert Earning.objects.filter(assignment__task=task).count() == 3


def checked_set(requester_org, requester, admin_user) -> TaskSet:
    """Half its claims are served a check (the most a set may ask for)."""
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=20,
        gold=20,
        assignments_per_task=1,
        gold_ratio_permille=500,
    )


def answer_check(task_set: TaskSet, value: str) -> Assignment:
    """One worker claims and answers until served a check, which they answer so."""
    [worker] = vetted_workers(1, prefix="c")
    while True:
        claim = work.claim_next_task(worker=worker, task_set_id=task_set.pk)
        if claim.assignment.is_gold:
            submit_committed(worker, claim.assignment, value)
            return Assignment.objects.get(pk=claim.assignment.pk)
        submit_committed(worker, claim.assignment, "cat")


@pytest.mark.django_db
def test_a_check_answer_is_scored_by_the_job_its_commit_queues(
    requester_org, requester, admin_user
):
    task_set = checked_set(requester_org, requester, admin_user)
    check = answer_check(task_set, "dog")  # the gold says cat
    assert check.gold_credit_permille == 0 and check.review_status == "soft_rejected"
    assert ReputationEvent.objects.filter(assignment=check, source="gold").count() == 1
    assert Earning.objects.filter(assignment=check).count() == 1  # paid all the same
    # Run again (a duplicate job, the safety net): nothing more.
    from reputation.services import score_check

    assert score_check(assignment_id=check.pk) is False
    assert ReputationEvent.objects.filter(assignment=check).count() == 1
    assert Earning.objects.filter(assignment=check).count() == 1


@pytest.mark.django_db
def test_the_safety_net_scores_a_check_whose_job_was_lost(
    requester_org, requester, admin_user, monkeypatch, caplog
):
    from reputation import tasks as quality_jobs

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(quality_jobs.score_checks, "delay", broker_down)
    task_set = checked_set(requester_org, requester, admin_user)
    check = answer_check(task_set, "cat")
    # The answer stands, unscored, and the failure is logged.
    assert check.status == "submitted" and check.gold_credit_permille is None
    assert "safety net" in caplog.text
    assert settling.overdue_check_ids() == []  # within the minute the job would take
    later = timezone.now() + settling.SAFETY_NET_AFTER + timedelta(seconds=1)
    assert settling.overdue_check_ids(now=later) == [check.pk]
    assert settling.score_overdue_checks(now=later) == 1
    check.refresh_from_db()
    assert check.gold_credit_permille == 1000 and check.review_status == "approved"
    assert ReputationEvent.objects.filter(assignment=check, source="gold").count() == 1
    assert settling.overdue_check_ids(now=later) == []
