"""Approvals pay from escrow into pending earnings, rejections reverse, appeals pay
again, the hold matures pending into available: balanced entries throughout."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from payouts import earnings
from payouts.models import Earning, JournalEntry, LedgerAccount, SetPayTotals
from payouts.reconcile import differences
from payouts.selectors import cached_balance_mismatches, unbalanced_entries
from reputation import services as quality
from tasks.models import Assignment
from tests.factories import WorkerProfileFactory
from tests.payouts.helpers import available, balance, paid, pending, submitted
from tests.reputation.test_quality import animals, soft_rejected_answer  # noqa: F401
from tests.work_helpers import published_set, vetted_workers

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


@pytest.fixture
def labels(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org, requester=requester, admin=admin_user, regular=10, gold=5
    )


def escrow(task_set):
    return earnings.escrow_account(task_set).balance_minor


def worker():
    return WorkerProfileFactory().user


def test_an_approved_answer_moves_reward_and_fee_out_of_escrow(labels):
    sokha = worker()
    before = escrow(labels)
    assignment = paid(labels, sokha)
    assert pending(sokha) == 5
    assert balance(Kind.PLATFORM_FEES) == 1  # 20% of 5
    assert before - escrow(labels) == 6
    earning = Earning.objects.get(assignment=assignment)
    assert (earning.status, earning.sequence, earning.fee_minor) == ("live", 1, 1)
    assert unbalanced_entries() == [] and cached_balance_mismatches() == []
    assert differences() == []


def test_paying_is_idempotent(labels):
    sokha = worker()
    assignment = paid(labels, sokha)
    earnings.settle_assignment_pay(assignment)
    earnings.settle_assignment_pay(assignment)
    assert Earning.objects.filter(assignment=assignment).count() == 1
    assert pending(sokha) == 5


def test_an_answer_waiting_for_review_or_rejected_is_not_paid(labels):
    sokha = worker()
    paid(labels, sokha, review="pending")
    paid(labels, sokha, review="rejected")
    assert pending(sokha) == 0 and not Earning.objects.exists()


def test_a_not_used_answer_is_paid(labels):
    sokha = worker()
    paid(labels, sokha, review="soft_rejected")
    assert pending(sokha) == 5


def test_a_passed_check_pays_through_the_real_submit(animals):  # noqa: F811
    [sokha] = vetted_workers(1)
    mine = soft_rejected_answer(animals, sokha)
    # Two peers approved, the worker's answer not used: all three are paid.
    assert Earning.objects.filter(assignment__task=mine.task).count() == 3
    assert pending(sokha) == mine.reward_minor
    assert differences() == []


def test_reject_reverses_and_an_upheld_appeal_pays_again(animals, requester, admin_user):  # noqa: F811
    [sokha] = vetted_workers(1)
    mine = soft_rejected_answer(animals, sokha)
    quality.reject_answer(actor=requester, assignment_id=mine.pk, reason="Wrong.")
    assert pending(sokha) == 0
    first = Earning.objects.get(assignment=mine, sequence=1)
    assert first.status == "reversed"
    assert first.reversal_entry.reverses_id == first.entry_id
    appeal = quality.file_appeal(worker=sokha, assignment_id=mine.pk, message="It is a dog.")
    quality.decide_appeal(actor=admin_user, appeal_id=appeal.pk, uphold=True, reason="A dog.")
    assert pending(sokha) == mine.reward_minor
    # Paid with its task's other answers, reversed alone, paid alone again.
    kinds = JournalEntry.objects.filter(
        Q(earnings__assignment=mine) | Q(reversed_earning__assignment=mine)
    ).values_list("kind", flat=True)
    assert sorted(kinds) == ["earning.pay", "earning.pay", "earning.reversal"]
    assert first.entry.earnings.count() == 3
    assert Earning.objects.get(assignment=mine, status="live").sequence == 2
    assert differences() == []


def test_the_fee_is_rounded_once_per_set_not_per_answer(requester_org, requester, admin_user):
    # 20% of 3 is 0.6: rounding each answer up would take 10 for ten answers; the set
    # funded ceil(20% of 30) = 6.
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=10,
        gold=5,
        assignments_per_task=1,
        gold_ratio_permille=0,
        reward_minor=3,
        expected_seconds_per_task=5,
    )
    funded = escrow(task_set)
    assert funded == 36
    sokha = worker()
    for _ in range(10):
        paid(task_set, sokha)
    assert SetPayTotals.objects.get(pk=task_set.pk).fees_minor == 6
    assert escrow(task_set) == 0
    assert differences() == []


def test_a_short_escrow_is_topped_up_from_the_balance_visibly(labels, requester_org):
    earnings.escrow_account(labels)
    LedgerAccount.objects.filter(kind=Kind.SET_ESCROW).update(balance_minor=2)  # as if drained
    sokha = worker()
    paid(labels, sokha)
    assert escrow(labels) == 0
    assert JournalEntry.objects.filter(kind="escrow.top_up").count() == 1


def test_escrow_never_goes_negative_when_nothing_can_cover_it(labels):
    LedgerAccount.objects.filter(kind__in=[Kind.SET_ESCROW, Kind.ORGANIZATION_BALANCE]).update(
        balance_minor=0
    )
    sokha = worker()
    assignment = submitted(labels, sokha)
    with pytest.raises(ValidationError, match="Insufficient funds"):
        earnings.settle_assignment_pay(assignment)
    assert not Earning.objects.exists() and escrow(labels) == 0


def test_the_hold_matures_pending_into_available_one_entry_per_worker(labels, settings):
    settings.EARNINGS_HOLD_DAYS = 3
    sokha, dara = worker(), worker()
    long_ago = timezone.now() - timedelta(days=4)
    for _ in range(3):
        paid(labels, sokha, when=long_ago)
    paid(labels, dara, when=long_ago)
    paid(labels, sokha)  # approved just now: still held
    assert earnings.mature_earnings() == 2
    assert (pending(sokha), available(sokha)) == (5, 15)
    assert (pending(dara), available(dara)) == (0, 5)
    matured = JournalEntry.objects.filter(kind="earnings.matured")
    assert matured.count() == 2 and all(e.lines.count() == 2 for e in matured)
    assert earnings.mature_earnings() == 0  # nothing left past the hold
    assert differences() == []


def test_reversing_after_the_hold_takes_from_available(labels):
    sokha = worker()
    assignment = paid(labels, sokha, when=timezone.now() - timedelta(days=10))
    earnings.mature_earnings()
    Assignment.objects.filter(pk=assignment.pk).update(review_status="rejected")
    assignment.refresh_from_db()
    earnings.settle_assignment_pay(assignment)
    assert (pending(sokha), available(sokha)) == (0, 0)
    assert differences() == []
