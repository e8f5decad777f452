"""Reconciliation: every difference between what the ledger says and what should
be true, as text. Empty means clean. Read-only."""

from django.db.models import Count, Q, Sum

from payouts import rails
from payouts.earnings import PAYABLE_REVIEWS
from payouts.models import Earning, JournalLine, LedgerAccount, PayoutLine, SetPayTotals
from payouts.selectors import cached_balance_mismatches, unbalanced_entries
from tasks.models import Assignment

Kind = LedgerAccount.Kind


def differences() -> list[str]:
    found: list[str] = []
    for entry_id, currency, total in unbalanced_entries():
        found.append(f"entry {entry_id} does not balance in {currency}: sums to {total}")
    for key, cached, summed in cached_balance_mismatches():
        found.append(f"account {key}: cached balance {cached}, lines sum to {summed}")
    found += _escrow_differences()
    found += _earning_differences()
    found += _payout_differences()
    return found


def _escrow_differences() -> list[str]:
    """Each set's escrow = what was put in (funding, top-ups) - returned - the live
    earnings it paid (rewards + fees), from the earnings table, not the lines."""
    found = []
    put_in = dict(
        JournalLine.objects.filter(
            account__kind=Kind.SET_ESCROW,
            entry__kind__in=["escrow.fund", "escrow.return", "escrow.top_up"],
        )
        .values("account__reference")
        .annotate(total=Sum("amount_minor"))
        .values_list("account__reference", "total")
    )
    spent = {
        f"set:{row['task_set_id']}": row["rewards_minor"] + row["fees_minor"]
        for row in SetPayTotals.objects.values("task_set_id", "rewards_minor", "fees_minor")
    }
    live = {
        f"set:{row['task_set_id']}": row["total"]
        for row in Earning.objects.exclude(status=Earning.Status.REVERSED)
        .values("task_set_id")
        .annotate(total=Sum("amount_minor") + Sum("fee_minor"))
    }
    for account in LedgerAccount.objects.filter(kind=Kind.SET_ESCROW):
        ref = account.reference
        expected = (put_in.get(ref) or 0) - live.get(ref, 0)
        if account.balance_minor < 0:
            found.append(f"escrow {ref} is negative: {account.balance_minor}")
        if account.balance_minor != expected:
            found.append(
                f"escrow {ref}: balance {account.balance_minor}, unspent cost is {expected} "
                f"(funded {put_in.get(ref) or 0}, paid {live.get(ref, 0)})"
            )
        if spent.get(ref, 0) != live.get(ref, 0):
            found.append(
                f"set totals {ref}: cached {spent.get(ref, 0)}, earnings {live.get(ref, 0)}"
            )
    return found


def _earning_differences() -> list[str]:
    """Every payable answer has one live earning and no other answer has one."""
    found = []
    unpaid = (
        Assignment.objects.filter(
            status=Assignment.Status.SUBMITTED, review_status__in=list(PAYABLE_REVIEWS)
        )
        .annotate(live=Count("earnings", filter=~Q(earnings__status=Earning.Status.REVERSED)))
        .filter(live=0)
        .values_list("pk", flat=True)[:100]
    )
    found += [f"answer {pk} is payable but was not paid" for pk in unpaid]
    paid_not_payable = (
        Earning.objects.exclude(status=Earning.Status.REVERSED)
        .exclude(
            assignment__status=Assignment.Status.SUBMITTED,
            assignment__review_status__in=list(PAYABLE_REVIEWS),
        )
        .values_list("assignment_id", flat=True)[:100]
    )
    found += [f"answer {pk} is paid but not payable" for pk in paid_not_payable]
    return found


def _payout_differences() -> list[str]:
    found = []
    in_transit = {
        (row["rail"], row["currency"]): row["total"]
        for row in PayoutLine.objects.filter(
            status__in=[PayoutLine.Status.PENDING, PayoutLine.Status.SENT]
        )
        .values("rail", "currency")
        .annotate(total=Sum("amount_minor"))
    }
    paid = {
        (row["rail"], row["currency"]): row["total"]
        for row in PayoutLine.objects.filter(status=PayoutLine.Status.PAID)
        .values("rail", "currency")
        .annotate(total=Sum("amount_minor"))
    }
    for kind, expected_by, label in (
        (Kind.PAYOUTS_IN_TRANSIT, in_transit, "in transit"),
        (Kind.PAID_OUT, paid, "paid out"),
    ):
        accounts = {
            (a.reference, a.currency): a.balance_minor
            for a in LedgerAccount.objects.filter(kind=kind)
        }
        for key in sorted(set(accounts) | set(expected_by)):
            if accounts.get(key, 0) != expected_by.get(key, 0):
                found.append(
                    f"{label} {key[0]} {key[1]}: ledger {accounts.get(key, 0)}, "
                    f"payout lines {expected_by.get(key, 0)}"
                )
    for line in PayoutLine.objects.exclude(status=PayoutLine.Status.PENDING).iterator():
        try:
            rail = rails.get_rail(line.rail)
        except LookupError:
            found.append(f"payout line {line.pk}: no rail {line.rail} to ask")
            continue
        reported = rail.lookup(line)
        if reported is None:
            continue
        if reported.status != line.status or reported.external_id != line.external_id:
            found.append(
                f"payout line {line.pk}: we say {line.status} {line.external_id}, "
                f"{line.rail} says {reported.status} {reported.external_id}"
            )
    return found
