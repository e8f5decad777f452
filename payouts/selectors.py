from django.db.models import Sum

from marketplace.models import Organization
from payouts.models import JournalLine, LedgerAccount


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
