"""The ledger core: append-only journal entries whose lines sum to zero per
currency, in integer minor units. Account balances are cached on the account and
updated in the same transaction as the lines (see payouts.services.post_entry)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

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
        # Money that left the platform to workers, per rail (the sink of a paid line).
        PAID_OUT = "paid_out", "Paid out to workers"

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
    # The entry this one reverses, whole or in part: a task's answers are paid in one
    # entry, and reversed one answer at a time.
    reverses = models.ForeignKey(
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


# --- Earnings ------------------------------------------------------------------


class Earning(models.Model):
    """One payment of one answer: the reward moved from its set's escrow to the
    worker's pending earnings (and the fee to the platform) by `entry`. A payable
    answer has exactly one live earning; pay -> reverse -> pay makes sequence 1
    (reversed), then 2. The ledger is the money; this row says which answer it was
    for. Whether it has cleared the hold is not stored per row (a million updates):
    it has once `approved_at` is at or before its currency's EarningsMaturity mark."""

    class Status(models.TextChoices):
        LIVE = "live", "Paid"
        REVERSED = "reversed", "Reversed"

    assignment = models.ForeignKey(
        "tasks.Assignment", on_delete=models.PROTECT, related_name="earnings"
    )
    sequence = models.PositiveIntegerField()  # 1 for the first payment, +1 per re-payment
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    task_set = models.ForeignKey("tasks.TaskSet", on_delete=models.PROTECT, related_name="+")
    amount_minor = models.BigIntegerField()  # the reward, minor units of `currency`
    fee_minor = models.BigIntegerField()  # the platform's share taken from escrow with it
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.LIVE)
    approved_at = models.DateTimeField()  # the hold runs from here
    # The entry that paid it: one per payment of a single answer, or shared by the
    # answers of a task paid together when the task was settled.
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="earnings")
    reversal_entry = models.OneToOneField(
        JournalEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_earning",
    )
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "sequence"], name="earning_assignment_sequence"
            ),
            # At most one live payment per answer, whatever races.
            models.UniqueConstraint(
                fields=["assignment"],
                condition=~Q(status="reversed"),
                name="earning_one_live_per_assignment",
            ),
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0, fee_minor__gte=0), name="earning_amounts_sign"
            ),
        ]
        indexes = [
            # The maturation sums live earnings of a currency by approval time: an
            # index-only range scan on PostgreSQL.
            models.Index(
                fields=["currency", "approved_at"],
                include=["worker_id", "amount_minor"],
                condition=Q(status="live"),
                name="earning_live_by_time",
            ),
            models.Index(fields=["worker", "task_set"], name="earning_worker_set"),
        ]

    def __str__(self) -> str:
        return f"earning {self.assignment_id}#{self.sequence} ({self.status})"


class EarningsMaturity(models.Model):
    """Per currency: live earnings approved at or before `matured_through` have been
    moved from pending to available (one entry per worker per maturation)."""

    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, primary_key=True)
    matured_through = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "earnings maturity marks"

    def __str__(self) -> str:
        return f"{self.currency} matured through {self.matured_through:%Y-%m-%d %H:%M}"


class SetPayTotals(models.Model):
    """Cached totals of a set's live earnings, updated in the same transaction as
    the entries: the fee is charged cumulatively against them (see earnings.py), and
    billing reads them without summing earnings."""

    task_set = models.OneToOneField(
        "tasks.TaskSet", on_delete=models.PROTECT, primary_key=True, related_name="pay_totals"
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    rewards_minor = models.BigIntegerField(default=0)  # minor units
    fees_minor = models.BigIntegerField(default=0)  # minor units

    def __str__(self) -> str:
        return f"set {self.task_set_id}: {self.rewards_minor} + {self.fees_minor} {self.currency}"


# --- Payouts -------------------------------------------------------------------


class PayoutDestination(models.Model):
    """How one worker is paid: the rail is chosen per worker, because Stripe's
    cross-border payouts do not reach every country (see the README)."""

    class Rail(models.TextChoices):
        PARTNER_CENTRE = "partner_centre", "Partner centre (cash or mobile money)"
        STRIPE_CONNECT = "stripe_connect", "Stripe Connect"

    class Status(models.TextChoices):
        ONBOARDING = "onboarding", "Being set up"
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"
        # Stripe Connect: Stripe stopped the account's transfers (it needs more details).
        RESTRICTED = "restricted", "Restricted by Stripe"

    worker = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_destination"
    )
    rail = models.CharField(max_length=20, choices=Rail.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    centre = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    centre_reference = models.CharField(max_length=64, blank=True)  # the centre's own id
    mobile_money_number = models.CharField(max_length=20, blank=True)
    stripe_account_id = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(rail="partner_centre") | Q(centre__isnull=False),
                name="destination_partner_has_centre",
            )
        ]

    def __str__(self) -> str:
        return f"{self.worker} via {self.rail} ({self.status})"


class PayoutRun(models.Model):
    class Status(models.TextChoices):
        CREATING = "creating", "Creating lines"
        SENDING = "sending", "Sending"
        FINISHED = "finished", "Finished"

    rail = models.CharField(max_length=20, choices=PayoutDestination.Rail.choices)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATING)
    trigger = models.CharField(max_length=20, blank=True)  # command, beat, admin
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)  # lines committed, sending began
    finished_at = models.DateTimeField(null=True, blank=True)
    line_count = models.PositiveIntegerField(default=0)
    total_minor = models.BigIntegerField(default=0)  # minor units, all lines
    minimum_minor = models.BigIntegerField(default=0)  # the rail's minimum used

    class Meta:
        indexes = [models.Index(fields=["rail", "-created_at"], name="payoutrun_rail_recent")]

    def __str__(self) -> str:
        return f"payout run {self.pk} ({self.rail} {self.currency}, {self.status})"


class PayoutLine(models.Model):
    """One worker's payout in one run. Its id is the idempotency key at the rail."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # money in transit; the rail not yet told
        SENT = "sent", "Sent"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="lines")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount_minor = models.BigIntegerField()  # minor units
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    rail = models.CharField(max_length=20, choices=PayoutDestination.Rail.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    external_id = models.CharField(max_length=100, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    # Where the money was sent, as it was when the run was made.
    destination_centre = models.ForeignKey(
        "marketplace.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    destination_reference = models.CharField(max_length=64, blank=True)
    destination_mobile_money = models.CharField(max_length=20, blank=True)
    destination_account = models.CharField(max_length=64, blank=True)  # e.g. acct_...
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "worker"], name="payoutline_one_per_worker"),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="payoutline_positive"),
        ]
        indexes = [
            models.Index(fields=["worker", "-created_at"], name="payoutline_worker_recent"),
            models.Index(fields=["status", "rail"], name="payoutline_status_rail"),
        ]

    def __str__(self) -> str:
        return f"payout line {self.pk} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"payout-line-{self.pk}"


class PartnerBatch(models.Model):
    """A run's lines for one partner centre: the CSV it pays from, its SHA-256
    manifest, and when its return file was imported."""

    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="partner_batches")
    centre = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="+"
    )
    csv_name = models.CharField(max_length=200)  # in default_storage
    manifest_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    line_count = models.PositiveIntegerField()
    total_minor = models.BigIntegerField()  # minor units
    created_at = models.DateTimeField(auto_now_add=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "partner batches"
        constraints = [
            models.UniqueConstraint(fields=["run", "centre"], name="partnerbatch_run_centre")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} / {self.centre}"


from payouts.stripe_models import *  # noqa: E402, F403  (Stripe funding models)
