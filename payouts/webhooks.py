"""Stripe's webhook: verify the signature on the raw body, store the event under its
unique id, then hand it to the handler registered for its type (zulip's pattern,
corporate/views/webhook.py).

Storing comes first, in its own committed transaction, so a replay or a second
delivery racing the first finds the row. Processing then runs in one transaction
that locks that row: whoever gets the lock first runs the handler and marks the event
processed; the other sees it processed and does nothing. A handler that raises rolls
back everything it did, leaves the error on the row and answers 500, so Stripe's
retry runs it again: nothing is lost and nothing is done twice.

Handlers: `@handles("type", ...)` on a function taking the StripeEvent row and
returning a short outcome. Modules holding handlers are listed in HANDLER_MODULES
(the Connect rail adds its own there); the view itself never changes. A type with no
handler is stored and acknowledged."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from importlib import import_module

import stripe
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payouts import stripe_api
from payouts.stripe_models import StripeEvent

logger = logging.getLogger(__name__)

Handler = Callable[[StripeEvent], str]

HANDLER_MODULES: list[str] = ["payouts.funding", "payouts.connect_webhooks"]
_handlers: dict[str, Handler] = {}
_loaded = False


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            existing = _handlers.get(event_type)
            if existing is not None and existing is not handler:
                raise ImproperlyConfigured(
                    f"Two handlers for Stripe event {event_type}: {existing} and {handler}"
                )
            _handlers[event_type] = handler
        return handler

    return register


def handler_for(event_type: str) -> Handler | None:
    global _loaded
    if not _loaded:
        for module in HANDLER_MODULES:
            import_module(module)
        _loaded = True
    return _handlers.get(event_type)


def store_event(*, event_id: str, event_type: str, payload: dict) -> tuple[StripeEvent, bool]:
    """The event's row, and whether this call created it. Its own transaction,
    committed before any handler runs: the unique event id is the replay guard."""
    try:
        with transaction.atomic():
            return (
                StripeEvent.objects.create(event_id=event_id, type=event_type, payload=payload),
                True,
            )
    except IntegrityError:
        # Received before (a retry, a replay, or a racing delivery that inserted first:
        # on PostgreSQL our insert waited for its commit).
        return StripeEvent.objects.get(event_id=event_id), False


def process_event(event: StripeEvent) -> StripeEvent:
    """Run the event's handler once. Returns the row; `replayed` says whether it had
    been processed already (then nothing ran)."""
    handler = handler_for(event.type)
    try:
        with transaction.atomic():
            # Lock the event row: a second delivery of the same event waits here and then
            # finds it processed. Handlers lock their own rows after this one, in order.
            locked = StripeEvent.objects.select_for_update().get(pk=event.pk)
            if locked.processed_at is not None:
                locked.replayed = True
                return locked
            outcome = handler(locked) if handler else "no handler: stored"
            locked.processed_at = timezone.now()
            locked.outcome = outcome[:300]
            locked.error = ""
            locked.attempts = F("attempts") + 1
            locked.save(update_fields=["processed_at", "outcome", "error", "attempts"])
            locked.refresh_from_db(fields=["attempts"])
    except Exception as exc:
        # The handler's writes are rolled back; keep why, for staff, and let Stripe retry.
        StripeEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
            error=f"{exc.__class__.__name__}: {exc}"[:2000], attempts=F("attempts") + 1
        )
        raise
    locked.replayed = False
    return locked


def receive_event(*, event_id: str, event_type: str, payload: dict) -> StripeEvent:
    event, _created = store_event(event_id=event_id, event_type=event_type, payload=payload)
    if event.processed_at is not None:
        event.replayed = True
        return event
    return process_event(event)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    payload = request.body  # raw bytes: the signature covers exactly these
    try:
        verified = stripe_api.construct_event(payload, request.headers.get("Stripe-Signature"))
        body = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError):
        # Nothing stored, nothing secret logged: not even the header.
        logger.warning("Stripe webhook refused: bad or missing signature")
        return HttpResponseBadRequest("Invalid signature.", content_type="text/plain")
    try:
        event = receive_event(event_id=verified.id, event_type=verified.type, payload=body)
    except Exception:
        logger.exception(
            "Stripe webhook %s (%s) failed; Stripe will retry", verified.id, verified.type
        )
        return HttpResponse("Handler failed; retry.", status=500, content_type="text/plain")
    note = "replayed" if event.replayed else (event.outcome or "ok")
    return HttpResponse(note, content_type="text/plain")
