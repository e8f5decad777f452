"""The Stripe webhook: signature on the raw body, each event stored once by its id,
credits keyed by the checkout session, whatever the order or the number of deliveries."""

import copy
import json

import pytest
import stripe
from django.db import connection
from django.test import Client

from payouts import webhooks
from payouts.models import JournalEntry
from payouts.stripe_models import FundingSession, StripeEvent
from tests.concurrency import errors, race
from tests.fake_stripe import sign
from tests.fake_stripe.fixtures import WEBHOOK_SECRET
from tests.payouts.stripe_helpers import (
    WEBHOOK,
    balance,
    event_for,
    pay_on_stripe,
    post_event,
    start_funding,
)

COMPLETED = "checkout.session.completed"
SUCCEEDED = "checkout.session.async_payment_succeeded"
FAILED = "checkout.session.async_payment_failed"

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(client, requester):
    client.force_login(requester)
    return client


def _paid(fake_stripe, rita, org, amount="50.00", **kwargs):
    session = start_funding(rita, org, amount)
    pay_on_stripe(session, **kwargs)
    return session


def test_a_paid_checkout_credits_the_balance_once(fake_stripe, rita, requester_org):
    session = _paid(fake_stripe, rita, requester_org)

    response = post_event(rita, event_for(fake_stripe, COMPLETED, session))

    assert response.status_code == 200
    session.refresh_from_db()
    assert session.status == "paid" and session.payment_intent_id.startswith("pi_")
    assert balance(requester_org) == 50_00
    entry = session.entry
    assert entry.kind == "funding.stripe"
    assert entry.idempotency_key == f"stripe:checkout:{session.stripe_session_id}"
    assert "Acme Labels" in entry.memo
    stored = StripeEvent.objects.get()
    assert stored.type == COMPLETED and stored.processed_at and "credited" in stored.outcome


def test_a_replayed_event_does_nothing(fake_stripe, rita, requester_org):
    event = event_for(fake_stripe, COMPLETED, _paid(fake_stripe, rita, requester_org))
    post_event(rita, event)

    again = post_event(rita, event)

    assert again.status_code == 200 and again.content == b"replayed"
    assert StripeEvent.objects.count() == 1
    assert JournalEntry.objects.filter(kind="funding.stripe").count() == 1
    assert balance(requester_org) == 50_00


def test_async_payment_credits_on_success_not_on_completion(fake_stripe, rita, requester_org):
    session = _paid(fake_stripe, rita, requester_org, async_payment=True)
    post_event(rita, event_for(fake_stripe, COMPLETED, session))
    session.refresh_from_db()
    assert (session.status, balance(requester_org)) == ("open", 0)

    fake_stripe.succeed_async_payment(session.stripe_session_id)
    post_event(rita, event_for(fake_stripe, SUCCEEDED, session))

    session.refresh_from_db()
    assert (session.status, balance(requester_org)) == ("paid", 50_00)


def test_success_before_completion_credits_once_and_stays_paid(fake_stripe, rita, requester_org):
    session = _paid(fake_stripe, rita, requester_org, async_payment=True)
    fake_stripe.succeed_async_payment(session.stripe_session_id)

    post_event(rita, event_for(fake_stripe, SUCCEEDED, session))
    post_event(rita, event_for(fake_stripe, COMPLETED, session))  # late, still "unpaid"

    session.refresh_from_db()
    assert (session.status, balance(requester_org)) == ("paid", 50_00)
    assert JournalEntry.objects.filter(kind="funding.stripe").count() == 1
    assert StripeEvent.objects.count() == 2


def test_completed_and_async_success_for_one_payment_credit_once(fake_stripe, rita, requester_org):
    # Both say "paid" for the same session: two events, one payment.
    session = _paid(fake_stripe, rita, requester_org)
    completed = event_for(fake_stripe, COMPLETED, session)
    succeeded = copy.deepcopy(completed)
    succeeded.update(id="evt_test_second", type=SUCCEEDED)

    post_event(rita, completed)
    post_event(rita, succeeded)

    assert balance(requester_org) == 50_00
    assert JournalEntry.objects.filter(kind="funding.stripe").count() == 1


def test_async_failure_moves_no_money(fake_stripe, rita, requester_org):
    session = _paid(fake_stripe, rita, requester_org, async_payment=True)
    fake_stripe.fail_async_payment(session.stripe_session_id)

    post_event(rita, event_for(fake_stripe, FAILED, session))
    post_event(rita, event_for(fake_stripe, COMPLETED, session))  # out of order

    session.refresh_from_db()
    assert (session.status, balance(requester_org)) == ("failed", 0)
    assert not JournalEntry.objects.exists()


def test_a_late_failure_never_takes_a_paid_session_back(fake_stripe, rita, requester_org):
    session = _paid(fake_stripe, rita, requester_org)
    completed = event_for(fake_stripe, COMPLETED, session)
    failed = copy.deepcopy(completed)
    failed.update(id="evt_test_failed", type=FAILED)
    post_event(rita, completed)

    post_event(rita, failed)

    session.refresh_from_db()
    assert (session.status, balance(requester_org)) == ("paid", 50_00)
    assert "ignored" in StripeEvent.objects.get(event_id="evt_test_failed").outcome


def test_a_bad_signature_is_refused_and_nothing_is_stored(fake_stripe, rita, requester_org, caplog):
    event = event_for(fake_stripe, COMPLETED, _paid(fake_stripe, rita, requester_org))

    forged = post_event(rita, event, secret="whsec_someone_else")
    unsigned = rita.post(WEBHOOK, data="{}", content_type="application/json")

    assert (forged.status_code, unsigned.status_code) == (400, 400)
    assert not StripeEvent.objects.exists() and balance(requester_org) == 0
    assert "whsec" not in caplog.text


def test_a_tampered_body_is_refused(fake_stripe, rita, requester_org):
    event = event_for(fake_stripe, COMPLETED, _paid(fake_stripe, rita, requester_org))
    signature = sign('{"id": "evt_x"}', WEBHOOK_SECRET)
    event["data"]["object"]["amount_total"] = 999_999_00
    response = rita.post(
        WEBHOOK, data=json.dumps(event), content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )  # fmt: skip

    assert response.status_code == 400 and not StripeEvent.objects.exists()


def test_only_post(fake_stripe, client):
    assert client.get(WEBHOOK).status_code == 405


def test_unknown_event_types_are_stored_and_acknowledged(fake_stripe, client):
    event = {
        "id": "evt_test_unknown",
        "object": "event",
        "type": "customer.created",
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }

    response = post_event(client, event)

    assert response.status_code == 200
    stored = StripeEvent.objects.get()
    assert (stored.type, stored.outcome) == ("customer.created", "no handler: stored")
    assert stored.processed_at and stored.payload["data"]["object"]["id"] == "cus_1"


def test_a_checkout_we_did_not_start_is_acknowledged_and_ignored(fake_stripe, client):
    foreign = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price_data": {"currency": "usd", "unit_amount": 500,
                                    "product_data": {"name": "x"}}, "quantity": 1}],
        success_url="http://elsewhere.example/", client_reference_id="77",
    )  # fmt: skip
    fake_stripe.complete_checkout_session(foreign.id)
    [event] = fake_stripe.events(COMPLETED)

    response = post_event(client, event)

    assert response.status_code == 200
    assert StripeEvent.objects.get().outcome.startswith("ignored")
    assert not JournalEntry.objects.exists()


def test_a_failing_handler_keeps_the_event_and_stripe_s_retry_runs_it(
    fake_stripe, rita, requester_org, monkeypatch
):
    event = event_for(fake_stripe, COMPLETED, _paid(fake_stripe, rita, requester_org))

    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("payouts.funding.post_entry", broken)
    first = post_event(rita, event)
    stored = StripeEvent.objects.get()
    assert first.status_code == 500
    assert stored.processed_at is None and "database hiccup" in stored.error
    assert balance(requester_org) == 0 and FundingSession.objects.get().status == "open"

    monkeypatch.undo()
    retry = post_event(rita, event)

    assert retry.status_code == 200
    stored.refresh_from_db()
    assert stored.processed_at and stored.error == "" and stored.attempts == 2
    assert balance(requester_org) == 50_00


def test_other_modules_register_handlers_without_touching_the_view(fake_stripe, client):
    seen = []

    @webhooks.handles("customer.created")
    def on_customer_created(event):
        seen.append(event.event_id)
        return "noted"

    try:
        response = post_event(
            client,
            {"id": "evt_test_cus", "object": "event", "type": "customer.created",
             "data": {"object": {"id": "cus_1", "object": "customer"}}},
        )  # fmt: skip
    finally:
        del webhooks._handlers["customer.created"]

    assert response.status_code == 200 and seen == ["evt_test_cus"]
    assert StripeEvent.objects.get().outcome == "noted"


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_one_event_at_once_credit_once(fake_stripe, requester, requester_org):
    if connection.vendor != "postgresql":
        pytest.skip("racing writers need PostgreSQL's row locks")
    rita = Client()
    rita.force_login(requester)
    event = event_for(fake_stripe, COMPLETED, _paid(fake_stripe, rita, requester_org))

    outcomes = race(*[lambda: post_event(Client(), event) for _ in range(4)])

    assert not errors(outcomes)
    assert sorted(r.status_code for r in outcomes) == [200] * 4
    assert sorted(r.content for r in outcomes).count(b"replayed") == 3
    assert StripeEvent.objects.count() == 1
    assert JournalEntry.objects.filter(kind="funding.stripe").count() == 1
    assert balance(requester_org) == 50_00


def test_events_signed_with_the_connect_endpoints_secret_are_accepted(
    fake_stripe, rita, requester_org, settings
):
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = "whsec_connect"
    event = event_for(fake_stripe, COMPLETED, _paid(fake_stripe, rita, requester_org))
    accepted = post_event(rita, event, secret="whsec_connect")
    forged = post_event(rita, {**event, "id": "evt_other"}, secret="whsec_someone_else")
    assert (accepted.status_code, forged.status_code) == (200, 400)
    assert StripeEvent.objects.count() == 1
