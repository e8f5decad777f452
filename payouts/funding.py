"""Requester funding through Stripe Checkout (payment mode).

Starting a top-up makes a FundingSession row, commits it, then asks Stripe for a
Checkout Session with idempotency key `funding:<row id>`. The balance is credited only
by the signed webhook (checkout.session.completed with payment_status "paid", or
checkout.session.async_payment_succeeded), never by the redirect back to our site.

The credit is one ledger entry, stripe clearing -> organization balance, keyed
`stripe:checkout:<session id>`, posted under a lock on the funding session row: however
many times and in whatever order the events arrive, a session is credited at most once,
and a paid session never goes back to open or failed."""

from __future__ import annotations

import logging
from collections.abc import Callable

import stripe
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import Organization, User
from marketplace.selectors import requester_organizations
from payouts import stripe_api
from payouts.currency import exponent, format_amount
from payouts.models import LedgerAccount
from payouts.services import get_account, post_entry
from payouts.stripe_models import FundingSession, StripeEvent
from payouts.webhooks import handles

logger = logging.getLogger(__name__)

Kind = LedgerAccount.Kind
# Stripe's ceiling for one charge is 8 digits of the smallest unit.
MAX_AMOUNT_MINOR = 99_999_999


class FundingUnavailable(Exception):
    """Stripe could not start the payment; the message is for the requester."""


def check_member(*, organization: Organization, user: User) -> None:
    """Only members of a requester organization move its money."""
    if not requester_organizations(user).filter(pk=organization.pk).exists():
        raise PermissionDenied(_("You are not a member of this organization."))


def start_funding(
    *,
    organization: Organization,
    user: User,
    amount_minor: int,
    currency: str,
    return_url: Callable[[int], str],
) -> FundingSession:
    """Make the row, then the Checkout Session; the caller redirects to `checkout_url`.
    `return_url(row id)` is the absolute address of our status page: Stripe sends the
    payer back there (with `?cancelled=1` if they gave up)."""
    check_member(organization=organization, user=user)
    exponent(currency)  # refuses unknown currencies
    if not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValidationError({"amount": _("The amount must be positive.")})
    if amount_minor > MAX_AMOUNT_MINOR:
        raise ValidationError(
            {
                "amount": _("At most %(max)s in one payment.")
                % {"max": format_amount(MAX_AMOUNT_MINOR, currency)}
            }
        )
    if not stripe_api.is_configured():
        raise FundingUnavailable(_("Online payment is not configured."))
    # Committed before Stripe is called: its id is the idempotency key, and the row
    # records the attempt even if Stripe never answers.
    session = FundingSession.objects.create(
        organization=organization, created_by=user, amount_minor=amount_minor, currency=currency
    )
    params = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": amount_minor,
                    "product_data": {"name": f"Balance top-up for {organization.name}"},
                },
                "quantity": 1,
            }
        ],
        "client_reference_id": str(session.pk),
        "metadata": {"funding_session": str(session.pk), "organization": str(organization.pk)},
        "payment_intent_data": {
            "description": f"Balance top-up #{session.pk} for {organization.name}",
            "metadata": {"funding_session": str(session.pk), "organization": str(organization.pk)},
        },
        "success_url": return_url(session.pk),
        "cancel_url": return_url(session.pk) + "?cancelled=1",
    }
    if user.email:
        params["customer_email"] = user.email
    try:
        checkout = stripe_api.create_checkout_session(
            params=params, idempotency_key=f"funding:{session.pk}"
        )
    except stripe.StripeError as exc:
        detail = stripe_api.error_text(exc)
        logger.warning("Checkout session for funding %s refused: %s", session.pk, detail)
        FundingSession.objects.filter(pk=session.pk, status=FundingSession.Status.OPEN).update(
            status=FundingSession.Status.FAILED, error=detail
        )
        raise FundingUnavailable(
            _("Stripe could not start the payment (%(detail)s). Nothing was charged.")
            % {"detail": detail}
        ) from exc
    # A webhook may already have set the id (the filter keeps this from undoing it).
    FundingSession.objects.filter(pk=session.pk, stripe_session_id__isnull=True).update(
        stripe_session_id=checkout.id
    )
    FundingSession.objects.filter(pk=session.pk).update(checkout_url=checkout.url or "")
    session.refresh_from_db()
    return session


# --- webhook handlers -------------------------------------------------------------


def _locked_session(checkout: dict) -> FundingSession | None:
    """Our row for a Checkout Session object, locked. Found by Stripe's id, or by the
    client_reference_id we set (a webhook can beat our saving of the id)."""
    found = FundingSession.objects.select_for_update().filter(stripe_session_id=checkout["id"])
    session = found.first()
    if session is None:
        reference = checkout.get("client_reference_id") or ""
        metadata = checkout.get("metadata") or {}
        if not reference.isdigit() or metadata.get("funding_session") != reference:
            return None
        session = FundingSession.objects.select_for_update().filter(pk=int(reference)).first()
        if session is None or session.stripe_session_id not in (None, checkout["id"]):
            return None
        session.stripe_session_id = checkout["id"]
        session.save(update_fields=["stripe_session_id", "updated_at"])
    return session


def _credit(session: FundingSession, checkout: dict, event: StripeEvent) -> str:
    """Credit a locked, paid session once."""
    if session.status == FundingSession.Status.PAID:
        return f"funding {session.pk} already credited"
    paid_amount, paid_currency = checkout.get("amount_total"), (checkout.get("currency") or "")
    if paid_amount != session.amount_minor or paid_currency.upper() != session.currency:
        # Not ours to guess: stored with the event for staff, and never credited.
        logger.error(
            "Stripe event %s: session %s paid %s %s, expected %s %s",
            event.event_id,
            checkout["id"],
            paid_amount,
            paid_currency,
            session.amount_minor,
            session.currency,
        )
        return (
            f"NOT credited: funding {session.pk} paid {paid_amount} {paid_currency}, "
            f"expected {session.amount_minor} {session.currency}"
        )
    balance = get_account(
        kind=Kind.ORGANIZATION_BALANCE, currency=session.currency, organization=session.organization
    )
    clearing = get_account(kind=Kind.STRIPE_CLEARING, currency=session.currency)
    entry = post_entry(
        kind="funding.stripe",
        memo=f"Stripe Checkout top-up #{session.pk} for {session.organization} ({checkout['id']})",
        lines=[(balance, session.amount_minor), (clearing, -session.amount_minor)],
        # Keyed by the session, not the event: completed and async_payment_succeeded
        # are two events for one payment.
        idempotency_key=f"stripe:checkout:{checkout['id']}",
        created_by=session.created_by,
    )
    session.status = FundingSession.Status.PAID
    session.entry = entry
    session.paid_at = timezone.now()
    session.payment_intent_id = checkout.get("payment_intent") or session.payment_intent_id
    session.error = ""
    session.save(
        update_fields=["status", "entry", "paid_at", "payment_intent_id", "error", "updated_at"]
    )
    return f"funding {session.pk} credited {format_amount(session.amount_minor, session.currency)}"


@handles("checkout.session.completed", "checkout.session.async_payment_succeeded")
def handle_checkout_paid(event: StripeEvent) -> str:
    checkout = event.payload["data"]["object"]
    with transaction.atomic():
        session = _locked_session(checkout)
        if session is None:
            return f"ignored: no funding session for {checkout.get('id')}"
        if checkout.get("payment_status") != "paid":
            # Completed, but an asynchronous method (a bank debit) is still processing:
            # async_payment_succeeded or _failed follows.
            if session.status == FundingSession.Status.OPEN and checkout.get("payment_intent"):
                session.payment_intent_id = checkout["payment_intent"]
                session.save(update_fields=["payment_intent_id", "updated_at"])
            return f"funding {session.pk} awaiting payment ({checkout.get('payment_status')})"
        return _credit(session, checkout, event)


@handles("checkout.session.async_payment_failed")
def handle_checkout_failed(event: StripeEvent) -> str:
    checkout = event.payload["data"]["object"]
    with transaction.atomic():
        session = _locked_session(checkout)
        if session is None:
            return f"ignored: no funding session for {checkout.get('id')}"
        if session.status == FundingSession.Status.PAID:
            return f"funding {session.pk} already paid; failure ignored"
        session.status = FundingSession.Status.FAILED
        session.error = "The payment failed."
        session.save(update_fields=["status", "error", "updated_at"])
        return f"funding {session.pk} failed"


@handles("checkout.session.expired")
def handle_checkout_expired(event: StripeEvent) -> str:
    checkout = event.payload["data"]["object"]
    with transaction.atomic():
        session = _locked_session(checkout)
        if session is None:
            return f"ignored: no funding session for {checkout.get('id')}"
        if session.status != FundingSession.Status.OPEN:
            return f"funding {session.pk} is {session.status}; expiry ignored"
        session.status = FundingSession.Status.EXPIRED
        session.save(update_fields=["status", "updated_at"])
        return f"funding {session.pk} expired"
