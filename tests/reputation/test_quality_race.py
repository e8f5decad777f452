"""Reputation under racing submits: tasks closing at once update overlapping
workers' standings (locked in worker id order), with no deadlock, no lost event,
and standings equal to a rebuild from the events."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from reputation.models import ReputationEvent
from tasks import work
from tasks.models import Assignment
from tests.concurrency import errors, race
from tests.reputation.test_quality import snapshot
from tests.work_helpers import published_set, vetted_workers


def claim_for(worker, task):
    now = timezone.now()
    return Assignment.objects.create(
        task=task,
        task_set=task.task_set,
        is_gold=task.is_gold,
        worker=worker,
        claimed_at=now,
        expires_at=now + timedelta(minutes=10),
        reward_minor=task.task_set.reward_minor,
        currency=task.task_set.currency,
    )


def submit(worker, assignment, value):
    return work.submit_answer(
        worker=worker, assignment_id=assignment.pk, answer=value, submission_id=uuid.uuid4()
    )


@pytest.mark.django_db(transaction=True)
def test_tasks_closing_at_once_update_shared_workers_without_deadlock(
    requester_org, requester, admin_user
):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=16,
        gold=20,
        assignments_per_task=3,
        gold_ratio_permille=0,
    )
    training = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Training",
        regular=0,
        gold=12,
        is_training=True,
        training_answer_budget=100,
    )
    # Trained for real, so that every standing has the events a rebuild needs.
    workers = vetted_workers(5, qualified=False)
    for worker in workers:
        for _ in range(10):
            held = work.claim_next_task(worker=worker, task_set_id=training.pk).assignment
            submit(worker, held, "cat")
    tasks = list(task_set.tasks.filter(is_gold=False).order_by("pk"))
    golds = list(task_set.tasks.filter(is_gold=True).order_by("pk"))
    finals = []
    for index, task in enumerate(tasks):
        # Every task's first two answers come from the same two workers (shared by
        # every closing); the third, from a rotating worker, closes it in the race.
        submit(workers[0], claim_for(workers[0], task), "cat")
        submit(workers[1], claim_for(workers[1], task), "dog" if index % 2 else "cat")
        closer = workers[2 + index % 3]
        finals.append((closer, claim_for(closer, task), "cat"))
    # Meanwhile the shared workers answer checks, folding into the same rows.
    checks = [(workers[i % 2], claim_for(workers[i % 2], gold), "cat") for i, gold in
              enumerate(golds[:16])]  # fmt: skip
    outcomes = race(*[lambda c=c: submit(*c) for c in finals + checks])
    assert errors(outcomes) == []
    assert ReputationEvent.objects.filter(source="consensus").count() == 3 * len(tasks)
    assert ReputationEvent.objects.filter(source="gold").count() == len(checks)
    before = snapshot()
    call_command("recompute_reputation", verbosity=0)
    after = snapshot()
    # The fold of each worker's events in id order: equal to what the racing
    # transactions built, one event at a time.
    assert after == before
