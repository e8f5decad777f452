from django.db.models import Count, F, Sum

from marketplace.models import Organization
from payouts.models import JournalLine, LedgerAccount
from tasks.models import Assignment


def organization_balances(organization: Organization) -> dict[str, int]:
    """Currency -> available balance in minor units."""
    return dict(
        LedgerAccount.objects.filter(
            organization=organization, kind=LedgerAccount.Kind.ORGANIZATION_BALANCE
        ).values_list("currency", "balance_minor")
    )


def unbalanced_entries() -> list[tuple[int, str, int]]:
    """(entry id, currency, sum) for every entry whose lines do not sum to zero."""
    return list(
        JournalLine.objects.values("entry_id", "currency")
        .annotate(total=Sum("amount_minor"))
        .exclude(total=0)
        .values_list("entry_id", "currency", "total")
    )


def cached_balance_mismatches() -> list[tuple[str, int, int]]:
    """(account key, cached, summed) wherever the cache disagrees with the lines."""
    summed = LedgerAccount.objects.annotate(total=Sum("lines__amount_minor"))
    return [
        (account.key, account.balance_minor, account.total or 0)
        for account in summed
        if account.balance_minor != (account.total or 0)
    ]


# --- Earnings and payouts (pages, reconciliation) --------------------------------


def worker_balances(worker) -> dict[str, dict[str, int]]:
    """Currency -> {"pending", "available"} cached balances, minor units."""
    rows = LedgerAccount.objects.filter(
        worker=worker,
        kind__in=[LedgerAccount.Kind.WORKER_PENDING, LedgerAccount.Kind.WORKER_AVAILABLE],
    ).values_list("currency", "kind", "balance_minor")
    balances: dict[str, dict[str, int]] = {}
    for currency, kind, amount in rows:
        slot = balances.setdefault(currency, {"pending": 0, "available": 0})
        slot["pending" if kind == LedgerAccount.Kind.WORKER_PENDING else "available"] = amount
    return balances


def worker_payout_totals(worker) -> dict[str, dict[str, int]]:
    """Currency -> {status: total} of the worker's payout lines, minor units."""
    from payouts.models import PayoutLine

    totals: dict[str, dict[str, int]] = {}
    rows = (
        PayoutLine.objects.filter(worker=worker)
        .values("currency", "status")
        .annotate(total=Sum("amount_minor"))
    )
    for row in rows:
        totals.setdefault(row["currency"], {})[row["status"]] = row["total"]
    return totals


def worker_earnings_by_set(worker):
    """Per set and currency: answers paid and amounts pending and available."""
    from django.db.models import Count, OuterRef, Q, Subquery, Value
    from django.db.models.functions import Coalesce

    from payouts.earnings import EPOCH
    from payouts.models import Earning, EarningsMaturity

    mark = Coalesce(
        Subquery(
            EarningsMaturity.objects.filter(pk=OuterRef("currency")).values("matured_through")
        ),
        Value(EPOCH),
    )
    return (
        Earning.objects.filter(worker=worker, status=Earning.Status.LIVE)
        .annotate(mark=mark)
        .values("task_set_id", "task_set__title", "currency")
        .annotate(
            answers=Count("id"),
            pending=Sum("amount_minor", filter=Q(approved_at__gt=F("mark"))),
            available=Sum("amount_minor", filter=Q(approved_at__lte=F("mark"))),
        )
        .order_by("-task_set_id")
    )


def organization_billing(organization: Organization) -> dict[str, dict[str, int]]:
    """Currency -> funded, escrowed, spent (worker pay), fees, refundable (the
    balance not committed to any set), all minor units."""
    from payouts.models import SetPayTotals

    Kind = LedgerAccount.Kind
    billing: dict[str, dict[str, int]] = {}

    def slot(currency: str) -> dict[str, int]:
        return billing.setdefault(
            currency, {"funded": 0, "escrowed": 0, "spent": 0, "fees": 0, "refundable": 0}
        )

    funded = (
        JournalLine.objects.filter(
            account__organization=organization,
            account__kind=Kind.ORGANIZATION_BALANCE,
            entry__kind__startswith="funding.",
        )
        .values("currency")
        .annotate(total=Sum("amount_minor"))
    )
    for row in funded:
        slot(row["currency"])["funded"] = row["total"] or 0
    accounts = (
        LedgerAccount.objects.filter(organization=organization)
        .values("currency", "kind")
        .annotate(total=Sum("balance_minor"))
    )
    for row in accounts:
        if row["kind"] == Kind.SET_ESCROW:
            slot(row["currency"])["escrowed"] = row["total"] or 0
        elif row["kind"] == Kind.ORGANIZATION_BALANCE:
            slot(row["currency"])["refundable"] = row["total"] or 0
    spent = (
        SetPayTotals.objects.filter(task_set__organization=organization)
        .values("currency")
        .annotate(rewards=Sum("rewards_minor"), fees=Sum("fees_minor"))
    )
    for row in spent:
        slot(row["currency"])["spent"] = row["rewards"] or 0
        slot(row["currency"])["fees"] = row["fees"] or 0
    return billing


def organization_statement_lines(organization: Organization):
    """Every ledger line on the organization's balance and its sets' escrows, oldest
    first: the statement CSV."""
    return (
        JournalLine.objects.filter(account__organization=organization)
        .select_related("entry", "account")
        .order_by("entry__created_at", "entry_id", "pk")
    )


def worker_awaiting_review(worker) -> dict[str, dict[str, int]]:
    """Currency -> {"answers", "amount"}: answers submitted and not reviewed yet, and
    the rewards they will bring if approved (minor units). Not on the ledger yet: pay
    is booked when an answer is approved (payouts.earnings)."""
    rows = (
        Assignment.objects.filter(
            worker=worker,
            status=Assignment.Status.SUBMITTED,
            review_status=Assignment.ReviewStatus.PENDING,
            reward_minor__gt=0,
        )
        .values("currency")
        .annotate(answers=Count("id"), amount=Sum("reward_minor"))
        .order_by()
    )
    return {row["currency"]: {"answers": row["answers"], "amount": row["amount"]} for row in rows}
