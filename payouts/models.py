"""The ledger core: append-only journal entries whose lines sum to zero per
currency, in integer minor units. Account balances are cached on the account and
updated in the same transaction as the lines (see payouts.services.post_entry)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from payouts.currency import CURRENCY_CHOICES


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        ORGANIZATION_BALANCE = "org_balance", "Organization balance"
        SET_ESCROW = "set_escrow", "Task-set escrow"
        WORKER_PENDING = "worker_pending", "Worker pending earnings"
        WORKER_AVAILABLE = "worker_available", "Worker available earnings"
        PLATFORM_FEES = "platform_fees", "Platform fees"
        PAYOUTS_IN_TRANSIT = "payouts_in_transit", "Payouts in transit"
        STRIPE_CLEARING = "stripe_clearing", "Stripe clearing"
        MANUAL_FUNDING = "manual_funding", "Invoiced funding (manual)"
        REFUNDS = "refunds", "Refunds"

    # One account per (kind, currency, owner): the key spells that out so a plain
    # unique index guards it on every database (NULL owners would defeat a composite one).
    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, null=True, blank=True
    )
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    reference = models.CharField(max_length=64, blank=True)  # e.g. a task set id, a rail
    balance_minor = models.BigIntegerField(default=0)  # minor units; cache of the lines' sum
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class JournalEntry(models.Model):
    kind = models.CharField(max_length=40)  # e.g. "funding.manual"
    memo = models.CharField(max_length=300)
    # Retried callers (webhooks, payout runs) pass a key; a replay returns the first entry.
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}: {self.memo}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Journal entries are append-only; post a reversal instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Journal entries are append-only; post a reversal instead.")


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="lines")
    amount_minor = models.BigIntegerField()  # minor units; + raises the account's balance
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount_minor=0), name="journalline_amount_nonzero"
            )
        ]
        indexes = [models.Index(fields=["account", "entry"], name="journalline_account_entry")]

    def __str__(self) -> str:
        return f"{self.account.key} {self.amount_minor} {self.currency}"
