"""The one place that talks to Stripe: a client built from settings (the secret key
and, in tests, the fake server's address), and the few calls the product makes.

Every call that moves money takes an idempotency key derived from one of our own
rows, so a retry (ours, or stripe-python's on a dropped connection) never charges or
refunds twice. Nothing here logs a key or a signature."""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings

# stripe-python retries dropped connections and 5xx/409 answers with the same
# idempotency key; two retries ride out a blip without holding a request for long.
MAX_NETWORK_RETRIES = 2


class StripeNotConfigured(Exception):
    """STRIPE_SECRET_KEY is empty: online payment is off (manual credit still works)."""


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def webhooks_configured() -> bool:
    return bool(settings.STRIPE_WEBHOOK_SECRET)


def client() -> stripe.StripeClient:
    if not is_configured():
        raise StripeNotConfigured("STRIPE_SECRET_KEY is not set")
    options: dict[str, Any] = {"max_network_retries": MAX_NETWORK_RETRIES}
    if settings.STRIPE_API_BASE:
        options["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, **options)


def create_checkout_session(
    *, params: dict[str, Any], idempotency_key: str
) -> stripe.checkout.Session:
    return client().v1.checkout.sessions.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": idempotency_key},
    )


def create_refund(
    *, payment_intent: str, amount_minor: int, metadata: dict[str, str], idempotency_key: str
) -> stripe.Refund:
    return client().v1.refunds.create(
        params={"payment_intent": payment_intent, "amount": amount_minor, "metadata": metadata},
        options={"idempotency_key": idempotency_key},
    )


def construct_event(payload: bytes, signature: str | None) -> stripe.Event:
    """Verify Stripe's signature over the raw body (and its timestamp's age).
    Raises stripe.SignatureVerificationError or ValueError (not JSON)."""
    if not webhooks_configured():
        raise stripe.SignatureVerificationError("STRIPE_WEBHOOK_SECRET is not set", signature)
    # Stripe signs events of connected accounts (account.updated, payout.failed) for a
    # Connect endpoint with a secret of its own; both endpoints may point here.
    secrets = [settings.STRIPE_WEBHOOK_SECRET, settings.STRIPE_CONNECT_WEBHOOK_SECRET]
    last_error = None
    for secret in filter(None, secrets):
        try:
            return stripe.Webhook.construct_event(payload, signature, secret)
        except stripe.SignatureVerificationError as exc:
            last_error = exc
    raise last_error


def error_text(exc: stripe.StripeError) -> str:
    """What Stripe said, for people: its message and code, never the request."""
    message = exc.user_message or exc.__class__.__name__
    return f"{message} ({exc.code})" if exc.code else message
