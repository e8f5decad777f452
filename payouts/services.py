"""Ledger writes. Every movement of money is one balanced journal entry."""

from collections import defaultdict
from collections.abc import Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, F, Value, When
from django.utils.translation import gettext as _

from marketplace.models import Organization, User
from marketplace.services import record_audit
from payouts.currency import exponent
from payouts.models import JournalEntry, JournalLine, LedgerAccount

Kind = LedgerAccount.Kind


class InsufficientFunds(ValidationError):
    def __init__(self, *, account: LedgerAccount, needed_minor: int):
        self.account = account
        self.needed_minor = needed_minor
        self.available_minor = account.balance_minor
        super().__init__(
            f"Insufficient funds in {account.key}: needs {needed_minor}, "
            f"has {account.balance_minor} (minor units)."
        )


class IdempotencyConflict(ValidationError):
    """An idempotency key reused for a different movement of money: never a replay."""

    def __init__(self, *, entry: JournalEntry):
        self.entry = entry
        super().__init__(
            _(
                "This request was already used for a different entry (#%(entry)d): "
                "nothing was posted. Check the amounts and try again."
            )
            % {"entry": entry.pk},
            code="idempotency_conflict",
        )


def account_key(
    *, kind: str, currency: str, organization_id: int | None, worker_id: int | None, reference: str
) -> str:
    return f"{kind}:{currency}:o{organization_id or '-'}:w{worker_id or '-'}:{reference or '-'}"


def get_account(
    *,
    kind: str,
    currency: str,
    organization: Organization | None = None,
    worker: User | None = None,
    reference: str = "",
) -> LedgerAccount:
    exponent(currency)  # refuses unknown currencies
    key = account_key(
        kind=kind,
        currency=currency,
        organization_id=organization.pk if organization else None,
        worker_id=worker.pk if worker else None,
        reference=reference,
    )
    # Most accounts exist already: one plain read, no savepoint.
    account = LedgerAccount.objects.filter(key=key).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            account, _created = LedgerAccount.objects.get_or_create(
                key=key,
                defaults={
                    "kind": kind,
                    "currency": currency,
                    "organization": organization,
                    "worker": worker,
                    "reference": reference,
                },
            )
    except IntegrityError:  # created concurrently by another request
        account = LedgerAccount.objects.get(key=key)
    return account


def get_accounts(specs: Sequence[dict]) -> list[LedgerAccount]:
    """get_account for several accounts (each spec its keyword arguments), in that
    order: one query when they all exist, as they do after a set's first payments."""
    keys = [
        account_key(
            kind=spec["kind"],
            currency=spec["currency"],
            organization_id=spec["organization"].pk if spec.get("organization") else None,
            worker_id=spec["worker"].pk if spec.get("worker") else None,
            reference=spec.get("reference", ""),
        )
        for spec in specs
    ]
    found = {account.key: account for account in LedgerAccount.objects.filter(key__in=keys)}
    return [found.get(key) or get_account(**spec) for key, spec in zip(keys, specs, strict=True)]


def _check_balanced(lines: Sequence[tuple[LedgerAccount, int]]) -> None:
    if len(lines) < 2:
        raise ValidationError("A journal entry needs at least two lines.")
    totals: dict[str, int] = defaultdict(int)
    for account, amount_minor in lines:
        if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
            raise ValidationError("Amounts are integers in minor units.")
        if amount_minor == 0:
            raise ValidationError("A journal line cannot be zero.")
        totals[account.currency] += amount_minor
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise ValidationError(f"Journal entry does not balance: {unbalanced}.")


@transaction.atomic
def post_entry(
    *,
    kind: str,
    memo: str,
    lines: Sequence[tuple[LedgerAccount, int]],
    idempotency_key: str | None = None,
    created_by: User | None = None,
    reverses: JournalEntry | None = None,
    no_overdraft: Sequence[LedgerAccount] = (),
) -> JournalEntry:
    """Append one balanced entry and move the accounts' cached balances with it.
    With an idempotency key, a replay (even a concurrent one) returns the first
    entry, marked `replayed = True`, and moves nothing; the same key with other lines,
    kind or memo raises IdempotencyConflict. Accounts in `no_overdraft`
    may not go below zero: checked under the same lock that orders the writes."""
    _check_balanced(lines)
    if idempotency_key:
        existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, kind=kind, memo=memo, lines=lines, reverses=reverses)
    # Lock the accounts in a fixed order (by id) so concurrent entries touching the
    # same accounts queue instead of deadlocking.
    account_ids = sorted({account.pk for account, _amount in lines})
    locked = {
        account.pk: account
        for account in LedgerAccount.objects.select_for_update()
        .filter(pk__in=account_ids)
        .order_by("pk")
    }
    for guarded in no_overdraft:
        change = sum(amount for account, amount in lines if account.pk == guarded.pk)
        if locked[guarded.pk].balance_minor + change < 0:
            raise InsufficientFunds(account=locked[guarded.pk], needed_minor=-change)
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                kind=kind,
                memo=memo[:300],
                idempotency_key=idempotency_key,
                created_by=created_by,
                reverses=reverses,
            )
    except IntegrityError:
        if idempotency_key:
            existing = JournalEntry.objects.get(idempotency_key=idempotency_key)
            return _replay(existing, kind=kind, memo=memo, lines=lines, reverses=reverses)
        raise
    JournalLine.objects.bulk_create(
        JournalLine(entry=entry, account=account, amount_minor=amount, currency=account.currency)
        for account, amount in lines
    )
    # Every account's cached balance moves in one statement (the rows are locked).
    moves: dict[int, int] = defaultdict(int)
    for account, amount in lines:
        moves[account.pk] += amount
    LedgerAccount.objects.filter(pk__in=moves).update(
        balance_minor=F("balance_minor")
        + Case(
            *(When(pk=pk, then=Value(amount)) for pk, amount in moves.items()),
            output_field=BigIntegerField(),
        )
    )
    entry.replayed = False
    return entry


def _replay(
    existing: JournalEntry,
    *,
    kind: str,
    memo: str,
    lines: Sequence[tuple[LedgerAccount, int]],
    reverses: JournalEntry | None,
) -> JournalEntry:
    """The first entry for a replayed key, if the replay asks for the same movement.
    A key reused for another account, amount or purpose is a caller's mistake: saying
    "done" would hide that the second movement never happened."""
    requested = sorted((account.pk, amount, account.currency) for account, amount in lines)
    recorded = sorted(existing.lines.values_list("account_id", "amount_minor", "currency"))
    if (
        requested != recorded
        or existing.kind != kind
        or existing.memo != memo[:300]
        or existing.reverses_id != (reverses.pk if reverses else None)
    ):
        raise IdempotencyConflict(entry=existing)
    existing.replayed = True
    return existing


@transaction.atomic
def reverse_entry(*, entry: JournalEntry, memo: str, created_by: User | None) -> JournalEntry:
    """Corrections are new entries with every line negated, never edits."""
    lines = [(line.account, -line.amount_minor) for line in entry.lines.select_related("account")]
    return post_entry(
        kind=f"{entry.kind}.reversal",
        memo=memo,
        lines=lines,
        idempotency_key=f"reversal:{entry.pk}",
        created_by=created_by,
        reverses=entry,
    )


def credit_organization(
    *,
    organization: Organization,
    amount_minor: int,
    currency: str,
    actor: User,
    reason: str,
    idempotency_key: str | None = None,
) -> JournalEntry:
    """An admin credits an invoiced organization's balance by hand (audited)."""
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied("Only admins may credit an organization.")
    if organization.kind != Organization.Kind.REQUESTER:
        raise ValidationError("Only requester organizations hold a balance.")
    if amount_minor <= 0:
        raise ValidationError({"amount": "The amount must be positive."})
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "A reason is required."})
    with transaction.atomic():
        balance = get_account(
            kind=Kind.ORGANIZATION_BALANCE, currency=currency, organization=organization
        )
        source = get_account(kind=Kind.MANUAL_FUNDING, currency=currency)
        entry = post_entry(
            kind="funding.manual",
            memo=f"Manual credit to {organization}: {reason}",
            lines=[(balance, amount_minor), (source, -amount_minor)],
            idempotency_key=idempotency_key,
            created_by=actor,
        )
        if entry.replayed:
            return entry
        record_audit(
            actor=actor,
            action="organization.credit",
            target=organization,
            reason=reason,
            data={"amount_minor": amount_minor, "currency": currency, "entry": entry.pk},
        )
    return entry
