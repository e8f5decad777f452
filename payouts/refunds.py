"""Refunds of unspent balance to the cards that paid it.

Two steps, with the commit between them on purpose:
1. reserve (one transaction): lock the organization's paid funding sessions, pick
   the newest first until the amount is covered, and post org balance -> refunds
   (kind "refund.stripe", no overdraft under the balance account's lock). Committed
   before Stripe hears of it, so the money cannot be spent on a task set meanwhile.
2. send: one Stripe refund per funding session's payment intent, idempotency key
   `refund:<refund id>:<session id>`. What Stripe refuses is put back by one
   "refund.reversed" entry, visible in the statement. A call whose answer never came
   stays pending and is sent again with the same key by `send_refund`.
"""

from __future__ import annotations

import logging

import stripe
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import Organization, User
from payouts import stripe_api
from payouts.currency import exponent, format_amount
from payouts.funding import check_member
from payouts.models import LedgerAccount
from payouts.services import get_account, post_entry
from payouts.stripe_models import FundingSession, Refund, RefundPart

logger = logging.getLogger(__name__)

Kind = LedgerAccount.Kind


def refundable_minor(*, organization: Organization, currency: str) -> int:
    """What can go back to cards: the unrefunded part of paid card top-ups, capped by
    the balance (money credited by hand, or already spent, cannot)."""
    balance = get_account(
        kind=Kind.ORGANIZATION_BALANCE, currency=currency, organization=organization
    ).balance_minor
    paid = sum(
        session.refundable_minor
        for session in FundingSession.objects.filter(
            organization=organization, currency=currency, status=FundingSession.Status.PAID
        )
    )
    return max(0, min(balance, paid))


def request_refund(
    *,
    organization: Organization,
    user: User,
    amount_minor: int,
    currency: str,
    idempotency_key: str | None = None,
) -> Refund:
    """Reserve, then send. Returns the refund with its final (or pending) status; a
    repeated `idempotency_key` returns the first refund and sends nothing new."""
    try:
        refund = reserve_refund(
            organization=organization,
            user=user,
            amount_minor=amount_minor,
            currency=currency,
            idempotency_key=idempotency_key,
        )
    except IntegrityError:
        # The same submission, racing: its twin committed first; this one rolled back.
        if not idempotency_key:
            raise
        refund = Refund.objects.get(idempotency_key=idempotency_key)
    return send_refund(refund=refund)


@transaction.atomic
def reserve_refund(
    *,
    organization: Organization,
    user: User,
    amount_minor: int,
    currency: str,
    idempotency_key: str | None = None,
) -> Refund:
    check_member(organization=organization, user=user)
    if idempotency_key:
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if (existing.organization_id, existing.amount_minor, existing.currency) != (
                organization.pk,
                amount_minor,
                currency,
            ):
                raise ValidationError(_("This form was already used for another refund."))
            return existing
    exponent(currency)
    if not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValidationError({"amount": _("The amount must be positive.")})
    if not stripe_api.is_configured():
        raise ValidationError(
            _("Online payment is not configured: ask the admins for a refund by invoice.")
        )
    # Sessions are locked before the accounts (post_entry locks those), the same order
    # as the webhook's credit, so the two never deadlock. Newest payments first.
    sessions = list(
        FundingSession.objects.select_for_update()
        .filter(organization=organization, currency=currency, status=FundingSession.Status.PAID)
        .exclude(payment_intent_id="")
        .order_by("-paid_at", "-pk")
    )
    plan: list[tuple[FundingSession, int]] = []
    remaining = amount_minor
    for session in sessions:
        share = min(session.refundable_minor, remaining)
        if share > 0:
            plan.append((session, share))
            remaining -= share
        if remaining == 0:
            break
    if remaining:
        raise ValidationError(
            {
                "amount": _(
                    "At most %(max)s can be refunded to the cards that paid; "
                    "ask the admins about the rest."
                )
                % {"max": format_amount(amount_minor - remaining, currency)}
            }
        )
    balance = get_account(
        kind=Kind.ORGANIZATION_BALANCE, currency=currency, organization=organization
    )
    refunds = get_account(kind=Kind.REFUNDS, currency=currency)
    refund = Refund(
        organization=organization,
        requested_by=user,
        amount_minor=amount_minor,
        currency=currency,
        idempotency_key=idempotency_key or None,
    )
    entry = post_entry(
        kind="refund.stripe",
        memo=f"Refund of {format_amount(amount_minor, currency)} to card for {organization}",
        lines=[(balance, -amount_minor), (refunds, amount_minor)],
        created_by=user,
        no_overdraft=[balance],  # raises InsufficientFunds: never more than the balance
    )
    refund.entry = entry
    refund.save()
    for session, share in plan:
        RefundPart.objects.create(refund=refund, funding_session=session, amount_minor=share)
        FundingSession.objects.filter(pk=session.pk).update(
            refunded_minor=F("refunded_minor") + share
        )
    return refund


def send_refund(*, refund: Refund) -> Refund:
    """Send every pending part to Stripe (again, with the same key, if a call's answer
    was lost), then settle: put back what Stripe refused."""
    pending = refund.parts.select_related("funding_session").filter(
        status=RefundPart.Status.PENDING
    )
    for part in pending.order_by("pk"):  # the newest payment's part was made first
        try:
            stripe_refund = stripe_api.create_refund(
                payment_intent=part.funding_session.payment_intent_id,
                amount_minor=part.amount_minor,
                metadata={
                    "refund": str(refund.pk),
                    "funding_session": str(part.funding_session_id),
                },
                idempotency_key=part.idempotency_key,
            )
        except stripe.APIConnectionError as exc:
            # Stripe may or may not have done it: keep it pending, retry with the same key.
            part.error = stripe_api.error_text(exc)
            part.save(update_fields=["error"])
            logger.warning("Refund part %s: no answer from Stripe", part.idempotency_key)
            continue
        except stripe.StripeError as exc:
            part.status = RefundPart.Status.FAILED
            part.error = stripe_api.error_text(exc)
            part.save(update_fields=["status", "error"])
            logger.warning("Refund part %s refused: %s", part.idempotency_key, part.error)
            continue
        part.status = RefundPart.Status.SUCCEEDED
        part.stripe_refund_id = stripe_refund.id
        part.error = ""
        part.save(update_fields=["status", "stripe_refund_id", "error"])
    return settle_refund(refund=refund)


@transaction.atomic
def settle_refund(*, refund: Refund) -> Refund:
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != Refund.Status.PENDING:
        return refund
    parts = list(refund.parts.select_for_update().order_by("pk"))
    if any(part.status == RefundPart.Status.PENDING for part in parts):
        return refund
    failed = [part for part in parts if part.status == RefundPart.Status.FAILED]
    failed_minor = sum(part.amount_minor for part in failed)
    if failed_minor:
        balance = get_account(
            kind=Kind.ORGANIZATION_BALANCE,
            currency=refund.currency,
            organization=refund.organization,
        )
        refunds = get_account(kind=Kind.REFUNDS, currency=refund.currency)
        whole = failed_minor == refund.amount_minor
        refund.reversal_entry = post_entry(
            kind="refund.reversed",
            memo=f"Refund #{refund.pk}: Stripe refused "
            f"{format_amount(failed_minor, refund.currency)}, returned to the balance",
            lines=[(refunds, -failed_minor), (balance, failed_minor)],
            idempotency_key=f"refund:{refund.pk}:reversed",
            created_by=refund.requested_by,
            reverses=refund.entry if whole else None,
        )
        for part in failed:
            FundingSession.objects.filter(pk=part.funding_session_id).update(
                refunded_minor=F("refunded_minor") - part.amount_minor
            )
        refund.status = Refund.Status.FAILED if whole else Refund.Status.PARTIAL
    else:
        refund.status = Refund.Status.SUCCEEDED
    refund.finished_at = timezone.now()
    refund.save(update_fields=["status", "finished_at", "reversal_entry"])
    return refund


def refund_error(refund: Refund) -> str:
    """Stripe's reasons for the parts it refused, for the page."""
    return "; ".join(
        part.error
        for part in refund.parts.all()
        if part.status != RefundPart.Status.SUCCEEDED and part.error
    )
