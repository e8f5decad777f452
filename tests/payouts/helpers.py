"""Paid answers and payout destinations for the money tests, made quickly: an
assignment submitted and reviewed through the same payment call the quality
services make."""

import uuid
from datetime import timedelta

from django.utils import timezone

from marketplace.models import User
from payouts.earnings import settle_assignment_pay
from payouts.models import LedgerAccount, PayoutDestination
from payouts.services import get_account
from tasks.models import Assignment, Task, TaskSet


def submitted(task_set: TaskSet, worker: User, *, review="approved", gold=True) -> Assignment:
    """A submitted answer to a fresh task of the set (gold: no closing consensus)."""
    now = timezone.now()
    task = Task.objects.create(
        task_set=task_set,
        external_id=f"t-{uuid.uuid4().hex[:10]}",
        payload_text="x",
        is_gold=gold,
        gold_answer="cat" if gold else None,
    )
    return Assignment.objects.create(
        task=task,
        task_set=task_set,
        is_gold=gold,
        worker=worker,
        status=Assignment.Status.SUBMITTED,
        claimed_at=now,
        expires_at=now + timedelta(minutes=10),
        submitted_at=now,
        answer="cat",
        reward_minor=task_set.reward_minor,
        currency=task_set.currency,
        review_status=review,
        reviewed_at=now,
    )


def paid(task_set: TaskSet, worker: User, *, when=None, **kwargs) -> Assignment:
    assignment = submitted(task_set, worker, **kwargs)
    settle_assignment_pay(assignment, now=when)
    return assignment


def balance(kind: str, *, worker=None, currency="USD", organization=None, reference="") -> int:
    return get_account(
        kind=kind, currency=currency, worker=worker, organization=organization, reference=reference
    ).balance_minor


def pending(worker, currency="USD") -> int:
    return balance(LedgerAccount.Kind.WORKER_PENDING, worker=worker, currency=currency)


def available(worker, currency="USD") -> int:
    return balance(LedgerAccount.Kind.WORKER_AVAILABLE, worker=worker, currency=currency)


def via_centre(worker, centre, *, reference="", mobile="") -> PayoutDestination:
    return PayoutDestination.objects.create(
        worker=worker,
        rail=PayoutDestination.Rail.PARTNER_CENTRE,
        centre=centre,
        centre_reference=reference or f"C-{worker.pk}",
        mobile_money_number=mobile,
    )
