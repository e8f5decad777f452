"""Worker earnings: an answer's review decides whether it is paid.

Payable answers (approved, or "not used" = soft-rejected: paid but left out of the
results) move their reward from the set's escrow to the worker's *pending*
earnings and the platform fee to the platform, in the transaction that changed the
review: one journal entry per answer, or per task for the answers reviewed together
when a task is settled (settle_task_pay). A requester's rejection reverses the
answer's part of that entry; an upheld appeal pays again (a new earning, sequence
+ 1, so pay -> reverse -> pay has three distinct entries).
Pending earnings become *available* after EARNINGS_HOLD_DAYS, counted from the
approval, which leaves room for rejections and appeals. Maturing is a mark per
currency (EarningsMaturity): earnings approved up to it have been moved, summed per
worker by one SQL aggregation; no earning row is ever updated for it.

Locks: every payment or reversal holds a shared per-currency lock for its
transaction, a maturation holds it exclusively, so a maturation sees every earning
approved before its cutoff, and a reversal knows whether its earning has matured.

Fee rounding, stated once: the fee is charged cumulatively per set, as
ceil(fee% x live rewards) minus the fees already taken, so the set never pays more
fee than the cost preview funded (ceil of the fee on the whole worker pay), however
the per-answer roundings fall. A reversal returns exactly what its payment took."""

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from marketplace.models import User
from payouts import bulk
from payouts.currency import CURRENCY_EXPONENTS
from payouts.models import Earning, EarningsMaturity, LedgerAccount, SetPayTotals
from payouts.services import get_account, get_accounts, post_entry
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
    """The set's escrow: funded at publishing, paid from on approval."""
    return get_account(**_escrow(task_set))


def _escrow(task_set: TaskSet) -> dict:
    return {
        "kind": Kind.SET_ESCROW,
        "currency": task_set.currency,
        "organization": task_set.organization,
        "reference": f"set:{task_set.pk}",
    }


def worker_account(*, kind: str, worker_id: int, currency: str) -> LedgerAccount:
    return get_account(kind=kind, currency=currency, worker=User(pk=worker_id))


def _pending(worker_id: int, currency: str) -> dict:
    return {"kind": Kind.WORKER_PENDING, "currency": currency, "worker": User(pk=worker_id)}


def _locked_totals(task_set: TaskSet) -> SetPayTotals:
    # Row lock per set: every payment and reversal of the set queues here, so the
    # cumulative fee and the "is there a live earning" check see committed totals.
    locked = SetPayTotals.objects.select_for_update().filter(pk=task_set.pk)
    totals = locked.first()
    if totals is None:  # the set's first payment
        SetPayTotals.objects.bulk_create(
            [SetPayTotals(task_set=task_set, currency=task_set.currency)], ignore_conflicts=True
        )
        totals = locked.get()
    return totals


def settle_assignment_pay(assignment: Assignment, *, now: datetime | None = None) -> Earning | None:
    """Make the ledger agree with the answer's review, idempotently: pay a payable
    answer that has no live earning, reverse the live earning of one that is no
    longer payable, else nothing. Call it inside the transaction that changed the
    review. Returns the live earning, if any."""
    now = now or timezone.now()
    with transaction.atomic():
        bulk.batch_lock(maturity_lock(assignment.currency), shared=True)
        task_set = TaskSet.objects.select_related("organization").get(pk=assignment.task_set_id)
        totals = _locked_totals(task_set)
        earnings = _locked_earnings([assignment.pk])
        live = next((e for e in earnings if e.status != Earning.Status.REVERSED), None)
        payable = is_payable(assignment)
        if payable and live is None:
            sequence = earnings[-1].sequence + 1 if earnings else 1  # in id order
            [earning] = _pay(
                [(assignment, sequence)],
                task_set=task_set,
                totals=totals,
                now=now,
                memo=f"Answer {assignment.pk} in set {task_set.pk} (payment {sequence})",
                idempotency_key=f"earning:{assignment.pk}:{sequence}",
            )
            return earning
        if not payable and live is not None:
            _reverse(live, task_set=task_set, totals=totals, now=now)
            return None
        return live


def settle_task_pay(
    assignments: list[Assignment], *, task_id: int, task_set: TaskSet, now: datetime
) -> None:
    """settle_assignment_pay for the answers of one task, reviewed together when the
    task is settled (reputation.services): the ones to pay are paid in ONE journal
    entry, keyed by the task, each with its own Earning (the fee it took, what a
    reversal returns). A task is settled once; an answer to reverse (none, normally)
    is reversed on its own, as are later changes (rejection, appeal). The set must
    have been read with its organization."""
    with transaction.atomic():
        for assignment in assignments:
            if not is_payable(assignment):
                settle_assignment_pay(assignment, now=now)
        payable = [a for a in assignments if is_payable(a)]
        if not payable:
            return
        bulk.batch_lock(maturity_lock(task_set.currency), shared=True)
        totals = _locked_totals(task_set)
        earnings = _locked_earnings([a.pk for a in payable])
        live = {e.assignment_id for e in earnings if e.status != Earning.Status.REVERSED}
        last_sequence = {e.assignment_id: e.sequence for e in earnings}  # in id order
        to_pay = [(a, last_sequence.get(a.pk, 0) + 1) for a in payable if a.pk not in live]
        if to_pay:
            _pay(
                to_pay,
                task_set=task_set,
                totals=totals,
                now=now,
                memo=f"Task {task_id} in set {task_set.pk}: answers "
                + ", ".join(str(a.pk) for a, _sequence in to_pay),
                idempotency_key=f"earning:task:{task_id}",
            )


def _locked_earnings(assignment_ids: list[int]) -> list[Earning]:
    """The answers' earnings, locked, in id order (so each answer's in sequence)."""
    return list(
        Earning.objects.select_for_update().filter(assignment_id__in=assignment_ids).order_by("pk")
    )


def _pay(
    to_pay: list[tuple[Assignment, int]],
    *,
    task_set: TaskSet,
    totals: SetPayTotals,
    now: datetime,
    memo: str,
    idempotency_key: str,
) -> list[Earning]:
    """Pay answers of one set (each with its payment's sequence number) in one
    balanced entry: every reward from the escrow to its worker's pending earnings,
    the fee to the platform. The fee is taken cumulatively in this order, so each
    earning holds the fee its own reward added."""
    currency = task_set.currency
    rewards, fees = totals.rewards_minor, totals.fees_minor
    shares = []
    for assignment, sequence in to_pay:
        fee = max(0, platform_fee_minor(rewards + assignment.reward_minor) - fees)
        rewards += assignment.reward_minor
        fees += fee
        shares.append((assignment, sequence, fee))
    fee_total = fees - totals.fees_minor
    needed = rewards - totals.rewards_minor + fee_total
    owed: dict[int, int] = defaultdict(int)
    for assignment, _sequence in to_pay:
        owed[assignment.worker_id] += assignment.reward_minor
    workers = sorted(owed)
    # The accounts in one query (escrow, each worker's pending, the platform's fees).
    escrow, *pending, fees_account = get_accounts(
        [
            _escrow(task_set),
            *(_pending(worker_id, currency) for worker_id in workers),
            {"kind": Kind.PLATFORM_FEES, "currency": currency},
        ]
    )
    lines = [(escrow, -needed)]
    lines += [
        (account, owed[worker_id]) for account, worker_id in zip(pending, workers, strict=True)
    ]
    if fee_total:
        lines.append((fees_account, fee_total))
    if now <= matured_through(currency):
        # A `now` read before a maturation that has since committed would fall behind
        # its mark and never mature; under the shared lock the clock is past the mark.
        now = timezone.now()
    _cover_shortfall(escrow, task_set=task_set, needed=needed)
    entry = post_entry(
        kind="earning.pay",
        memo=memo,
        lines=lines,
        idempotency_key=idempotency_key,
        no_overdraft=[escrow],
    )
    SetPayTotals.objects.filter(pk=totals.pk).update(rewards_minor=rewards, fees_minor=fees)
    return Earning.objects.bulk_create(
        Earning(
            assignment_id=assignment.pk,
            sequence=sequence,
            worker_id=assignment.worker_id,
            task_set_id=task_set.pk,
            amount_minor=assignment.reward_minor,
            fee_minor=fee,
            currency=currency,
            approved_at=now,
            entry=entry,
        )
        for assignment, sequence, fee in shares
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
        Kind.WORKER_AVAILABLE
        if earning.approved_at <= matured_through(earning.currency)
        else Kind.WORKER_PENDING
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


EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def maturity_lock(currency: str) -> str:
    return f"payouts:maturity:{currency}"


def matured_through(currency: str) -> datetime:
    mark = EarningsMaturity.objects.filter(pk=currency).values_list("matured_through", flat=True)
    return mark.first() or EPOCH


def mature_earnings(*, now: datetime | None = None, currency: str | None = None) -> int:
    """Move live earnings approved since the last mark and before the hold's cutoff
    from pending to available: one journal entry per worker and currency, from one
    SQL aggregation. Returns how many entries were posted. Runs hourly (Celery
    beat) and at the start of every payout run."""
    now = now or timezone.now()
    if currency is None:
        return sum(mature_earnings(now=now, currency=code) for code in sorted(CURRENCY_EXPONENTS))
    cutoff = hold_cutoff(now)
    prefix = f"matured:{uuid.uuid4().hex}:"
    with transaction.atomic():
        # Exclusive: payments in flight finish first (and are counted), new ones wait.
        bulk.batch_lock(maturity_lock(currency))
        since = matured_through(currency)
        if cutoff <= since:
            return 0
        EarningsMaturity.objects.update_or_create(pk=currency, defaults={"matured_through": cutoff})
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS payouts_maturing")
            # The one pass over the earnings: a million rows become one per worker.
            cursor.execute(
                """
                CREATE TEMP TABLE payouts_maturing AS
                SELECT worker_id, SUM(amount_minor) AS amount_minor
                  FROM payouts_earning
                 WHERE status = 'live' AND currency = %s
                   AND approved_at > %s AND approved_at <= %s
                 GROUP BY worker_id
                """,
                [currency, since, cutoff],
            )
            after = bulk.last_entry_id()
            cursor.execute(
                """
                INSERT INTO payouts_journalentry (kind, memo, idempotency_key, created_at)
                SELECT 'earnings.matured', %s, %s || CAST(worker_id AS TEXT), %s
                  FROM payouts_maturing
                """,
                [f"Earnings approved by {cutoff:%Y-%m-%d %H:%M} UTC cleared the hold", prefix, now],
            )
            posted = cursor.rowcount
            if posted:
                currency_sql = "'" + currency + "'"  # a key of CURRENCY_EXPONENTS, never input
                available_key = bulk.account_key_sql("worker_available", currency_sql, "worker_id")
                cursor.execute(
                    f"""
                    INSERT INTO payouts_ledgeraccount
                           (key, kind, currency, worker_id, reference, balance_minor, created_at)
                    SELECT {available_key}, 'worker_available', %s, worker_id, '', 0, %s
                      FROM payouts_maturing WHERE true
                    ON CONFLICT (key) DO NOTHING
                    """,  # noqa: S608
                    [currency, now],
                )
                for kind, sign in (("worker_pending", "-"), ("worker_available", "")):
                    key = bulk.account_key_sql(kind, currency_sql, "m.worker_id")
                    cursor.execute(
                        f"""
                        INSERT INTO payouts_journalline
                               (entry_id, account_id, amount_minor, currency)
                        SELECT je.id, acc.id, {sign}m.amount_minor, %s
                          FROM payouts_maturing m
                          JOIN payouts_journalentry je
                            ON je.idempotency_key = %s || CAST(m.worker_id AS TEXT)
                          JOIN payouts_ledgeraccount acc ON acc.key = {key}
                         WHERE je.id > %s
                        """,  # noqa: S608
                        [currency, prefix, after],
                    )
            cursor.execute("DROP TABLE payouts_maturing")
        if posted:
            bulk.lock_accounts_sql(
                "id IN (SELECT l.account_id FROM payouts_journalline l "
                "JOIN payouts_journalentry je ON je.id = l.entry_id "
                "WHERE je.id > %s AND je.idempotency_key LIKE %s)",
                [after, prefix + "%"],
            )
            bulk.apply_entries_to_balances(key_prefix=prefix, after_entry_id=after)
    return posted


def still_owed_minor(task_set: TaskSet) -> int:
    """What a set's escrow must keep when it is cancelled or completed: the rewards of
    submitted answers not yet paid (any review but a final rejection may still be paid,
    since an appeal can restore a rejected one) plus the fee still to take on them,
    given the fee already taken. Answers already paid out of the escrow are not
    counted again."""
    from django.db.models import Exists, OuterRef, Sum

    live = Earning.objects.filter(assignment=OuterRef("pk"), status=Earning.Status.LIVE)
    unpaid = (
        Assignment.objects.filter(task_set=task_set, status=Assignment.Status.SUBMITTED)
        .exclude(Exists(live))
        .aggregate(total=Sum("reward_minor"))["total"]
        or 0
    )
    totals = SetPayTotals.objects.filter(pk=task_set.pk).first()
    paid_rewards = totals.rewards_minor if totals else 0
    paid_fees = totals.fees_minor if totals else 0
    return unpaid + max(0, platform_fee_minor(paid_rewards + unpaid) - paid_fees)
