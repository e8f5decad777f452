"""A closed task's settlement, and a check answer's scoring, after the answer commits.

The answer's transaction only counts the answer and closes the task (and scores a
trainee's check: its feedback comes back with the answer). Settling a closed regular
task (consensus, each answer's review, payment and agreement evidence:
reputation.services.settle_closed_task) and scoring a regular set's check answer
(reputation.services.score_check) are Celery jobs queued when that transaction
commits, so they cost the answering worker nothing. A job may be lost (the broker down
when queuing, a worker killed): the periodic safety net settles any task closed a
minute ago and still unsettled, and scores any check answered a minute ago. Running
either twice, or at once, does it once.

A set completes only when every regular task is closed and settled, so its final
results (Dawid-Skene) and the escrow returned see every answer reviewed and paid."""

import logging
from datetime import timedelta

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from reputation.services import score_check, settle_closed_task
from tasks.models import Assignment, Task
from tasks.work import complete_if_finished

logger = logging.getLogger(__name__)

# The job normally runs within milliseconds of the close; the safety net leaves it
# this long before settling in its place (doing so earlier would be safe, only
# wasted work).
SAFETY_NET_AFTER = timedelta(minutes=1)
# Tasks one safety-net run settles at most (tens of milliseconds each): a backlog left
# by a long outage is worked off over several runs rather than by overlapping ones.
SAFETY_NET_BATCH = 1000


def settle_and_complete(*, task_id: int) -> str | None:
    """Settle the task (see reputation.services.settle_closed_task), then complete its
    set if that was the last task to settle. Returns "settled", "reopened" or None
    (nothing to do)."""
    task = settle_closed_task(task_id=task_id)
    if task is None:
        return None
    if task.is_open:
        return "reopened"
    complete_if_finished(task_set_id=task.task_set_id)
    return "settled"


def overdue_task_ids(*, now=None, limit: int = SAFETY_NET_BATCH) -> list[int]:
    """Closed regular tasks still unsettled whose last answer came in longer than
    SAFETY_NET_AFTER ago (the partial index task_closed_unsettled holds only these)."""
    cutoff = (now or timezone.now()) - SAFETY_NET_AFTER
    last_answer = (
        Assignment.objects.filter(task=OuterRef("pk"), status=Assignment.Status.SUBMITTED)
        .order_by("-submitted_at")
        .values("submitted_at")[:1]
    )
    return list(
        Task.objects.filter(is_open=False, is_gold=False, settled_at__isnull=True)
        .alias(last_answer_at=Subquery(last_answer))
        .filter(Q(last_answer_at__lte=cutoff) | Q(last_answer_at__isnull=True))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def settle_tasks(task_ids: list[int]) -> int:
    """Settle these tasks, each in its own transaction. Returns how many it settled or
    reopened. A task that fails is logged and left for the safety net's next run, and
    does not hold back the tasks after it."""
    done = 0
    for task_id in task_ids:
        try:
            outcome = settle_and_complete(task_id=task_id)
        except Exception:
            logger.exception("settling task %s failed; the next run tries again", task_id)
            continue
        if outcome is not None:
            done += 1
    return done


def settle_overdue_tasks(*, now=None) -> int:
    """The safety net (Celery beat, every minute): settle the tasks whose job was
    lost."""
    return settle_tasks(overdue_task_ids(now=now))


def overdue_check_ids(*, now=None, limit: int = SAFETY_NET_BATCH) -> list[int]:
    """Regular sets' check answers still unscored SAFETY_NET_AFTER after they came in
    (their job was lost; the partial index assignment_check_unscored holds only
    unscored checks). A trainee's answer is scored in its own transaction."""
    cutoff = (now or timezone.now()) - SAFETY_NET_AFTER
    return list(
        Assignment.objects.filter(
            is_gold=True,
            status=Assignment.Status.SUBMITTED,
            gold_credit_permille__isnull=True,
            submitted_at__lte=cutoff,
            task_set__is_training=False,
        )
        .order_by("submitted_at")
        .values_list("pk", flat=True)[:limit]
    )


def score_checks(assignment_ids: list[int]) -> int:
    """Score these check answers, each in its own transaction; returns how many it
    scored. One that fails is logged and left for the safety net's next run."""
    done = 0
    for assignment_id in assignment_ids:
        try:
            done += score_check(assignment_id=assignment_id)
        except Exception:
            logger.exception("scoring check %s failed; the next run tries again", assignment_id)
    return done


def score_overdue_checks(*, now=None) -> int:
    """The safety net for lost score_checks jobs, beside settle_overdue_tasks."""
    return score_checks(overdue_check_ids(now=now))
