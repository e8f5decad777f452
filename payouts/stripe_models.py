"""Stripe funding: Checkout sessions that top up an organization's balance, the
webhook events Stripe sent us (each stored once, by its id), and refunds of unspent
balance back to the cards that paid. Imported at the end of payouts/models.py so
Django sees these as payouts models; the workflows live in payouts/funding.py,
payouts/refunds.py and payouts/webhooks.py."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from payouts.currency import CURRENCY_CHOICES

__all__ = ["FundingSession", "Refund", "RefundPart", "StripeEvent"]


class FundingSession(models.Model):
    """One Stripe Checkout top-up. The row is made (and its id used as the idempotency
    key and client_reference_id) before Stripe is called; only a signed webhook marks
    it paid and credits the balance."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"  # waiting for the payer (or for an async payment)
        PAID = "paid", "Paid"  # credited; terminal
        FAILED = "failed", "Failed"  # Stripe refused to start it, or the payment failed
        EXPIRED = "expired", "Expired"

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="funding_sessions"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    amount_minor = models.BigIntegerField()  # minor units of `currency`
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    # Null until Stripe answers the create call.
    stripe_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    payment_intent_id = models.CharField(max_length=255, blank=True)  # what refunds go against
    # Minor units refunded (or reserved for a refund in flight) from this payment.
    refunded_minor = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)  # why it failed, for the requester and staff
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    entry = models.OneToOneField(
        "payouts.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="funding_session",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="fundingsession_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(refunded_minor__gte=0, refunded_minor__lte=F("amount_minor")),
                name="fundingsession_refunded_within_amount",
            ),
            # Paid means credited: the entry is there.
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(entry__isnull=False),
                name="fundingsession_paid_has_entry",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "currency", "-paid_at"],
                condition=Q(status="paid"),
                name="fundingsession_refundable",
            )
        ]

    def __str__(self) -> str:
        return f"Funding #{self.pk} {self.amount_minor} {self.currency} ({self.status})"

    @property
    def refundable_minor(self) -> int:
        return self.amount_minor - self.refunded_minor if self.status == self.Status.PAID else 0


class StripeEvent(models.Model):
    """Every webhook event Stripe sent, stored under its unique id before anything is
    done with it: a replay (or a second delivery racing the first) finds the row."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()  # the verified event body as Stripe sent it
    received_at = models.DateTimeField(auto_now_add=True)
    # Set once a handler has finished (or the type has no handler). Null with an
    # `error` means a handler failed: Stripe's retry will run it again.
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class Refund(models.Model):
    """A requester's refund of unspent balance to the cards that paid it. The money is
    taken from the balance (entry) before Stripe is asked; what Stripe refuses is put
    back by a visible reversing entry."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # reserved; Stripe not (yet) answered for every part
        SUCCEEDED = "succeeded", "Refunded"
        PARTIAL = "partial", "Partly refunded"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="refunds"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    amount_minor = models.BigIntegerField()  # minor units of `currency`, as requested
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The form's one-time submission id: a double-submitted form refunds once.
    idempotency_key = models.CharField(max_length=100, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    entry = models.OneToOneField(  # the reservation: org balance -> refunds
        "payouts.JournalEntry", on_delete=models.PROTECT, related_name="refund"
    )
    reversal_entry = models.OneToOneField(  # what Stripe refused, put back
        "payouts.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_refund",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive")
        ]

    def __str__(self) -> str:
        return f"Refund #{self.pk} {self.amount_minor} {self.currency} ({self.status})"


class RefundPart(models.Model):
    """The share of a refund sent against one paid funding session's payment intent,
    with idempotency key `refund:<refund id>:<funding session id>`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # not sent, or Stripe's answer never arrived
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Failed"

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="parts")
    funding_session = models.ForeignKey(
        FundingSession, on_delete=models.PROTECT, related_name="refund_parts"
    )
    amount_minor = models.BigIntegerField()  # minor units of the refund's currency
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    stripe_refund_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["refund", "funding_session"], name="refundpart_once_per_session"
            ),
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0), name="refundpart_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} {self.amount_minor} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"refund:{self.refund_id}:{self.funding_session_id}"
