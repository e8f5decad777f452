"""Worker earnings: an answer's review decides whether it is paid.

Payable answers (approved, or "not used" = soft-rejected: paid but left out of the
results) move their reward from the set's escrow to the worker's *pending*
earnings and the platform fee to the platform, in the transaction that changed the
review. A requester's rejection reverses that entry; an upheld appeal pays again
(a new earning, sequence + 1, so pay -> reverse -> pay has three distinct entries).
Pending earnings become *available* after EARNINGS_HOLD_DAYS, counted from the
approval, which leaves room for rejections and appeals.

Fee rounding, stated once: the fee is charged cumulatively per set, as
ceil(fee% x live rewards) minus the fees already taken, so the set never pays more
fee than the cost preview funded (ceil of the fee on the whole worker pay), however
the per-answer roundings fall. A reversal returns exactly what its payment took."""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from marketplace.models import User
from payouts import bulk
from payouts.currency import CURRENCY_EXPONENTS
from payouts.models import Earning, LedgerAccount, SetPayTotals
from payouts.services import get_account, post_entry
from tasks.models import Assignment, TaskSet
from tasks.pricing import platform_fee_minor

Kind = LedgerAccount.Kind
Review = Assignment.ReviewStatus
PAYABLE_REVIEWS = frozenset({Review.APPROVED, Review.SOFT_REJECTED})


def is_payable(assignment: Assignment) -> bool:
    return (
        assignment.status == Assignment.Status.SUBMITTED
        and assignment.review_status in PAYABLE_REVIEWS
    )


def escrow_account(task_set: TaskSet) -> LedgerAccount:
    # The account tasks.services funds at publishing.
    return get_account(
        kind=Kind.SET_ESCROW,
        currency=task_set.currency,
        organization=task_set.organization,
        reference=f"set:{task_set.pk}",
    )


def worker_account(*, kind: str, worker_id: int, currency: str) -> LedgerAccount:
    return get_account(kind=kind, currency=currency, worker=User(pk=worker_id))


def _locked_totals(task_set: TaskSet) -> SetPayTotals:
    SetPayTotals.objects.bulk_create(
        [SetPayTotals(task_set=task_set, currency=task_set.currency)], ignore_conflicts=True
    )
    # Row lock per set: every payment and reversal of the set queues here, so the
    # cumulative fee and the "is there a live earning" check see committed totals.
    return SetPayTotals.objects.select_for_update().get(pk=task_set.pk)


def settle_assignment_pay(assignment: Assignment, *, now: datetime | None = None) -> Earning | None:
    """Make the ledger agree with the answer's review, idempotently: pay a payable
    answer that has no live earning, reverse the live earning of one that is no
    longer payable, else nothing. Call it inside the transaction that changed the
    review. Returns the live earning, if any."""
    now = now or timezone.now()
    with transaction.atomic():
        task_set = TaskSet.objects.select_related("organization").get(pk=assignment.task_set_id)
        totals = _locked_totals(task_set)
        live = (
            Earning.objects.select_for_update()
            .filter(assignment_id=assignment.pk)
            .exclude(status=Earning.Status.REVERSED)
            .first()
        )
        payable = is_payable(assignment)
        if payable and live is None:
            return _pay(assignment, task_set=task_set, totals=totals, now=now)
        if not payable and live is not None:
            _reverse(live, task_set=task_set, totals=totals, now=now)
            return None
        return live


def _pay(
    assignment: Assignment, *, task_set: TaskSet, totals: SetPayTotals, now: datetime
) -> Earning:
    reward = assignment.reward_minor
    currency = assignment.currency
    fee = max(0, platform_fee_minor(totals.rewards_minor + reward) - totals.fees_minor)
    sequence = Earning.objects.filter(assignment_id=assignment.pk).order_by("-sequence").first()
    sequence = 1 if sequence is None else sequence.sequence + 1
    escrow = escrow_account(task_set)
    pending = worker_account(
        kind=Kind.WORKER_PENDING, worker_id=assignment.worker_id, currency=currency
    )
    lines = [(escrow, -(reward + fee)), (pending, reward)]
    if fee:
        lines.append((get_account(kind=Kind.PLATFORM_FEES, currency=currency), fee))
    _cover_shortfall(escrow, task_set=task_set, needed=reward + fee)
    entry = post_entry(
        kind="earning.pay",
        memo=f"Answer {assignment.pk} in set {task_set.pk} (payment {sequence})",
        lines=lines,
        idempotency_key=f"earning:{assignment.pk}:{sequence}",
        no_overdraft=[escrow],
    )
    SetPayTotals.objects.filter(pk=totals.pk).update(
        rewards_minor=totals.rewards_minor + reward, fees_minor=totals.fees_minor + fee
    )
    return Earning.objects.create(
        assignment_id=assignment.pk,
        sequence=sequence,
        worker_id=assignment.worker_id,
        task_set_id=task_set.pk,
        amount_minor=reward,
        fee_minor=fee,
        currency=currency,
        approved_at=now,
        entry=entry,
    )


def _cover_shortfall(escrow: LedgerAccount, *, task_set: TaskSet, needed: int) -> None:
    """The escrow never goes negative. It cannot run short, since publishing funded
    the most answers the set can take (with the gold share and the extra-answer cap);
    if it ever did, the organization's balance tops it up in a visible entry, and if
    that is short too, InsufficientFunds undoes the whole review change rather than
    paying from nowhere."""
    escrow.refresh_from_db(fields=["balance_minor"])
    shortfall = needed - escrow.balance_minor
    if shortfall <= 0:
        return
    balance = get_account(
        kind=Kind.ORGANIZATION_BALANCE,
        currency=task_set.currency,
        organization=task_set.organization,
    )
    post_entry(
        kind="escrow.top_up",
        memo=f"Escrow of task set {task_set.pk} ran short by {shortfall}: topped up",
        lines=[(balance, -shortfall), (escrow, shortfall)],
        no_overdraft=[balance],
    )


def _reverse(earning: Earning, *, task_set: TaskSet, totals: SetPayTotals, now: datetime) -> None:
    """Return the payment to escrow. Already matured money comes out of the available
    balance; if it was paid out meanwhile, that balance goes negative and later
    earnings pay it back (payout runs pay only balances at or above the minimum)."""
    source_kind = (
        Kind.WORKER_AVAILABLE if earning.status == Earning.Status.AVAILABLE else Kind.WORKER_PENDING
    )
    source = worker_account(
        kind=source_kind, worker_id=earning.worker_id, currency=earning.currency
    )
    lines = [(escrow_account(task_set), earning.amount_minor + earning.fee_minor)]
    lines.append((source, -earning.amount_minor))
    if earning.fee_minor:
        fees = get_account(kind=Kind.PLATFORM_FEES, currency=earning.currency)
        lines.append((fees, -earning.fee_minor))
    entry = post_entry(
        kind="earning.reversal",
        memo=f"Answer {earning.assignment_id} no longer paid (payment {earning.sequence})",
        lines=lines,
        idempotency_key=f"earning-reversal:{earning.assignment_id}:{earning.sequence}",
        reverses=earning.entry,
    )
    SetPayTotals.objects.filter(pk=totals.pk).update(
        rewards_minor=totals.rewards_minor - earning.amount_minor,
        fees_minor=totals.fees_minor - earning.fee_minor,
    )
    earning.status = Earning.Status.REVERSED
    earning.reversal_entry = entry
    earning.reversed_at = now
    earning.save(update_fields=["status", "reversal_entry", "reversed_at"])


# --- The hold -------------------------------------------------------------------


def hold_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=settings.EARNINGS_HOLD_DAYS)


def mature_earnings(*, now: datetime | None = None, currency: str | None = None) -> int:
    """Move pending earnings approved before the hold's cutoff to available: one
    journal entry per worker and currency, built by SQL aggregation. Returns how many
    entries were posted. Runs hourly (Celery beat) and at the start of every payout
    run, under the same per-currency lock as the runs."""
    now = now or timezone.now()
    batch = uuid.uuid4().hex
    prefix = f"matured:{batch}:"
    with transaction.atomic():
        # The payout runs' lock (per currency, taken in a fixed order): a run's
        # maturation and the hourly one never interleave their account updates.
        for code in [currency] if currency else sorted(CURRENCY_EXPONENTS):
            bulk.batch_lock(f"payouts:{code}")
        where, params = "status = 'pending' AND approved_at <= %s", [hold_cutoff(now)]
        if currency:
            where, params = where + " AND currency = %s", [*params, currency]
        skip_locked = ""
        if connection.vendor == "postgresql":
            # An earning being reversed right now is left for the next maturation.
            skip_locked = (
                f" AND id IN (SELECT id FROM payouts_earning WHERE {where} FOR UPDATE SKIP LOCKED)"  # noqa: S608
            )
            params = params + params
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE payouts_earning SET status = 'available', matured_at = %s, "  # noqa: S608
                f"maturation_batch = %s WHERE {where}{skip_locked}",
                [now, batch, *params],
            )
            if cursor.rowcount == 0:
                return 0
            after = bulk.last_entry_id()
            cursor.execute(
                """
                INSERT INTO payouts_journalentry (kind, memo, idempotency_key, created_at)
                SELECT 'earnings.matured', 'Earnings cleared the review hold',
                       %s || CAST(worker_id AS TEXT) || ':' || currency, %s
                  FROM payouts_earning WHERE maturation_batch = %s
                 GROUP BY worker_id, currency
                """,
                [prefix, now, batch],
            )
            posted = cursor.rowcount
            available_key = bulk.account_key_sql("worker_available", "currency", "worker_id")
            # Interpolated SQL here is this module's constants, never input.
            cursor.execute(
                f"""
                INSERT INTO payouts_ledgeraccount
                       (key, kind, currency, worker_id, reference, balance_minor, created_at)
                SELECT DISTINCT {available_key}, 'worker_available', currency, worker_id, '', 0, %s
                  FROM payouts_earning WHERE maturation_batch = %s
                ON CONFLICT (key) DO NOTHING
                """,  # noqa: S608
                [now, batch],
            )
            for kind, sign in (("worker_pending", "-"), ("worker_available", "")):
                key = bulk.account_key_sql(kind, "e.currency", "e.worker_id")
                cursor.execute(
                    f"""
                    INSERT INTO payouts_journalline (entry_id, account_id, amount_minor, currency)
                    SELECT je.id, acc.id, {sign}SUM(e.amount_minor), e.currency
                      FROM payouts_earning e
                      JOIN payouts_journalentry je
                        ON je.idempotency_key = %s || CAST(e.worker_id AS TEXT) || ':' || e.currency
                      JOIN payouts_ledgeraccount acc ON acc.key = {key}
                     WHERE e.maturation_batch = %s AND je.id > %s
                     GROUP BY je.id, acc.id, e.currency
                    """,  # noqa: S608
                    [prefix, batch, after],
                )
        bulk.lock_accounts_sql(
            "id IN (SELECT l.account_id FROM payouts_journalline l JOIN payouts_journalentry je "
            "ON je.id = l.entry_id WHERE je.id > %s AND je.idempotency_key LIKE %s)",
            [after, prefix + "%"],
        )
        bulk.apply_entries_to_balances(key_prefix=prefix, after_entry_id=after)
    return posted
