"""Stripe Connect onboarding: a worker in a country Stripe pays out to sets up an
Express account from their earnings page, and becomes payable on the Connect rail
when Stripe says the account's transfers capability is active.

One account per worker, whatever the clicks: Stripe is asked with the idempotency key
`connect-account:<worker id>` and the same parameters every time, and the account id
is stored on the worker's PayoutDestination only if none is there yet.

A worker already paid by a partner centre keeps that rail while Stripe checks their
details: the account id is stored beside it and the rail switches to Stripe Connect
only when the account becomes active, so no week goes unpaid.

Status, from Stripe's account object (`sync_account`, used by the account.updated
webhook and by the return page): transfers capability "active" -> active; details not
submitted yet, or Stripe still verifying ("pending") -> onboarding; otherwise
restricted (Stripe needs more before it pays). A destination staff disabled stays
disabled."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from marketplace.models import User, WorkerProfile
from payouts import stripe_api
from payouts.models import PayoutDestination

logger = logging.getLogger(__name__)

Status = PayoutDestination.Status
CONNECT = PayoutDestination.Rail.STRIPE_CONNECT

ConnectState = Literal["unavailable", "not_set_up", "pending", "active", "restricted", "disabled"]


class ConnectUnavailable(Exception):
    """Onboarding cannot start; the message is for the worker."""


def worker_country(worker: User) -> str:
    profile = WorkerProfile.objects.filter(user=worker).only("country").first()
    return str(profile.country) if profile and profile.country else ""


def connect_offered(country: str) -> bool:
    return bool(country) and country.upper() in settings.STRIPE_CONNECT_COUNTRIES


@dataclass(frozen=True)
class Onboarding:
    """What the earnings page says about Stripe payouts, and which button it shows."""

    state: ConnectState
    country: str
    configured: bool  # Stripe keys set: the button can work

    @property
    def can_start(self) -> bool:
        return self.configured and self.state in ("not_set_up", "pending", "restricted")


def onboarding_state(worker: User, destination: PayoutDestination | None) -> Onboarding:
    country = worker_country(worker)
    configured = stripe_api.is_configured()
    if not connect_offered(country):
        return Onboarding("unavailable", country, configured)
    if destination is None or not destination.stripe_account_id:
        return Onboarding("not_set_up", country, configured)
    if destination.status == Status.DISABLED:
        return Onboarding("disabled", country, configured)
    if destination.rail != CONNECT or destination.status == Status.ONBOARDING:
        return Onboarding("pending", country, configured)
    if destination.status == Status.ACTIVE:
        return Onboarding("active", country, configured)
    return Onboarding("restricted", country, configured)


def ensure_account(*, worker: User) -> PayoutDestination:
    """The worker's destination with a Stripe Express account id, creating the
    account at Stripe once."""
    destination = PayoutDestination.objects.filter(worker=worker).first()
    if destination is not None and destination.stripe_account_id:
        return destination
    country = worker_country(worker)
    if not connect_offered(country):
        raise ConnectUnavailable(
            _("Bank payouts through Stripe are not available in your country.")
        )
    if not stripe_api.is_configured():
        raise ConnectUnavailable(_("Bank payouts through Stripe are not configured."))
    try:
        # No transaction is open around this call: Stripe is outside the database.
        # The same key and parameters on every attempt give back the same account.
        params = {
            "type": "express",
            "country": country.upper(),
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"worker": str(worker.pk)},
        }
        if country.upper() != settings.STRIPE_PLATFORM_COUNTRY:
            # Cross-border: Stripe pays such accounts only under its recipient service
            # agreement (transfers, no card payments of their own).
            params["tos_acceptance"] = {"service_agreement": "recipient"}
        account = stripe_api.client().v1.accounts.create(
            params=params,
            options={"idempotency_key": f"connect-account:{worker.pk}"},
        )
    except stripe.StripeError as exc:
        logger.warning("Stripe refused an Express account for worker %s: %s", worker.pk, exc)
        raise ConnectUnavailable(
            _("Stripe could not start the set-up (%(detail)s). Please try again later.")
            % {"detail": stripe_api.error_text(exc)}
        ) from exc
    return _store_account(worker=worker, account_id=account.id)


def _store_account(*, worker: User, account_id: str) -> PayoutDestination:
    try:
        with transaction.atomic():
            destination, created = PayoutDestination.objects.get_or_create(
                worker=worker,
                defaults={
                    "rail": CONNECT,
                    "status": Status.ONBOARDING,
                    "stripe_account_id": account_id,
                },
            )
    except IntegrityError:  # a second click created it first
        destination, created = PayoutDestination.objects.get(worker=worker), False
    if not created:
        # Only into an empty slot: two clicks at once store the one account once.
        PayoutDestination.objects.filter(pk=destination.pk, stripe_account_id="").update(
            stripe_account_id=account_id
        )
        destination.refresh_from_db()
    return destination


def account_link_url(*, destination: PayoutDestination, refresh_url: str, return_url: str) -> str:
    """A fresh one-time onboarding link (they expire within minutes; not stored)."""
    try:
        link = stripe_api.client().v1.account_links.create(
            params={
                "account": destination.stripe_account_id,
                "type": "account_onboarding",
                "refresh_url": refresh_url,
                "return_url": return_url,
            }
        )
    except stripe.StripeError as exc:
        logger.warning("Account link for %s refused: %s", destination.stripe_account_id, exc)
        raise ConnectUnavailable(
            _("Stripe could not open the set-up page (%(detail)s). Please try again later.")
            % {"detail": stripe_api.error_text(exc)}
        ) from exc
    return link.url


def start_onboarding(*, worker: User, refresh_url: str, return_url: str) -> str:
    """Where to send the worker: Stripe's hosted onboarding for their account."""
    destination = ensure_account(worker=worker)
    return account_link_url(destination=destination, refresh_url=refresh_url, return_url=return_url)


def _status_for(account: dict[str, Any], current: str) -> str:
    capabilities = account.get("capabilities") or {}
    transfers = capabilities.get("transfers")
    if transfers == "active":
        return Status.ACTIVE
    still_checking = transfers == "pending" or not account.get("details_submitted")
    if current != Status.ACTIVE and still_checking:
        return Status.ONBOARDING
    return Status.RESTRICTED


def sync_account(account: dict[str, Any]) -> PayoutDestination | None:
    """Bring the destination holding this account in line with Stripe's account
    object. Returns it, or None if no worker holds the account."""
    with transaction.atomic():
        # Row lock: the webhook and the return page may sync the same account at once.
        destination = (
            PayoutDestination.objects.select_for_update()
            .filter(stripe_account_id=account["id"])
            .first()
        )
        if destination is None or destination.status == Status.DISABLED:
            return destination
        status = _status_for(account, destination.status)
        if destination.rail != CONNECT:
            if status != Status.ACTIVE:
                return destination  # the centre keeps paying until Stripe can
            destination.rail = CONNECT
        destination.status = status
        destination.save(update_fields=["rail", "status", "updated_at"])
        return destination


def refresh_from_stripe(destination: PayoutDestination) -> PayoutDestination:
    """Ask Stripe for the account now (the return page: the webhook may come later).
    Stripe unreachable: the stored status stands."""
    try:
        account = stripe_api.client().v1.accounts.retrieve(destination.stripe_account_id)
    except stripe.StripeError as exc:
        logger.warning("Could not read account %s: %s", destination.stripe_account_id, exc)
        return destination
    return sync_account(account.to_dict()) or destination
