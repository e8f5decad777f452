"""The fake Stripe, driven by the real stripe-python client over HTTP.

What the payout and funding tests rely on: Stripe's rules (balance, capabilities,
idempotency), signed webhooks that stripe-python verifies, and objects that match
Stripe's OpenAPI spec.
"""

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from tests.fake_stripe import SpecError, sign
from tests.fake_stripe import spec as stripe_spec
from tests.fake_stripe.fixtures import WEBHOOK_SECRET
from tests.fake_stripe.params import parse


class Receiver:
    """A tiny webhook endpoint on 127.0.0.1 that keeps what it is sent."""

    def __init__(self):
        self.received: list[tuple[str, str]] = []  # (payload, Stripe-Signature)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                outer.received.append(
                    (self.rfile.read(length).decode(), self.headers["Stripe-Signature"])
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stripe/webhook/"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def events(self) -> list[stripe.Event]:
        return [
            stripe.Webhook.construct_event(payload, signature, WEBHOOK_SECRET)
            for payload, signature in self.received
        ]


@pytest.fixture
def receiver(fake_stripe):
    receiver = Receiver()
    fake_stripe.send_webhooks_to(receiver.url, secret=WEBHOOK_SECRET)
    yield receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


def _checkout(amount=1_000, **extra):
    return stripe.checkout.Session.create(
        mode="payment",
        line_items=[
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": amount,
                    "product_data": {"name": "Escrow for task set 7"},
                },
                "quantity": 1,
            }
        ],
        success_url="http://testserver/funded/{CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/cancelled/",
        client_reference_id="set-7",
        metadata={"task_set": "7"},
        payment_intent_data={"transfer_group": "set-7", "metadata": {"task_set": "7"}},
        **extra,
    )


def _paid(fake_stripe, amount=1_000):
    session = _checkout(amount)
    fake_stripe.complete_checkout_session(session.id)
    return stripe.checkout.Session.retrieve(session.id)


def _payee(fake_stripe, *, active=True):
    account = stripe.Account.create(
        type="express", country="US", capabilities={"transfers": {"requested": True}}
    )
    if active:
        fake_stripe.activate_account(account.id)
    return account


def _available(**options) -> int:
    return stripe.Balance.retrieve(**options).available[0].amount


def test_completed_checkout_sends_a_webhook_construct_event_verifies(fake_stripe, receiver):
    session = _checkout(2_500)
    assert session.status == "open" and session.url.startswith(fake_stripe.url)

    fake_stripe.complete_checkout_session(session.id)
    assert receiver.received == []  # manual mode: nothing until the test says so
    [delivery] = fake_stripe.deliver_pending()

    assert delivery.ok
    [event] = receiver.events()
    assert event.type == "checkout.session.completed"
    paid = event.data.object
    assert (paid.id, paid.payment_status, paid.amount_total) == (session.id, "paid", 2_500)
    assert (paid.client_reference_id, paid.metadata["task_set"]) == ("set-7", "7")
    intent = stripe.PaymentIntent.retrieve(paid.payment_intent)
    assert (intent.status, intent.transfer_group, intent.amount_received) == (
        "succeeded",
        "set-7",
        2_500,
    )


def test_a_webhook_signed_with_another_secret_is_refused(fake_stripe, receiver):
    fake_stripe.complete_checkout_session(_checkout().id)
    fake_stripe.deliver_pending()
    payload, _ = receiver.received[0]

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign(payload, "whsec_other"), WEBHOOK_SECRET)


def test_async_payment_succeeds_after_completion(fake_stripe, receiver):
    session = _checkout(700)
    fake_stripe.complete_checkout_session(session.id, async_payment=True)
    assert stripe.checkout.Session.retrieve(session.id).payment_status == "unpaid"
    assert _available() == 0

    fake_stripe.succeed_async_payment(session.id)
    fake_stripe.deliver_pending()

    assert [e.type for e in receiver.events()] == [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    ]
    assert _available() == 700


def test_async_payment_failure_credits_nothing(fake_stripe, receiver):
    session = _checkout(700)
    fake_stripe.complete_checkout_session(session.id, async_payment=True)
    fake_stripe.fail_async_payment(session.id)
    fake_stripe.deliver_pending()

    assert receiver.events()[-1].type == "checkout.session.async_payment_failed"
    assert stripe.checkout.Session.retrieve(session.id).payment_status == "unpaid"
    assert _available() == 0


def test_idempotent_replay_returns_the_same_transfer_and_moves_money_once(fake_stripe):
    _paid(fake_stripe, 1_000)
    payee = _payee(fake_stripe)
    request = {"amount": 400, "currency": "usd", "destination": payee.id, "transfer_group": "g"}

    first = stripe.Transfer.create(**request, idempotency_key="payout-1")
    again = stripe.Transfer.create(**request, idempotency_key="payout-1")

    assert again.id == first.id
    assert len(fake_stripe.objects("transfer")) == 1
    assert _available() == 600
    assert [r.replayed for r in fake_stripe.requests if r.path == "/v1/transfers"] == [False, True]


def test_same_key_with_other_parameters_is_an_idempotency_error(fake_stripe):
    _paid(fake_stripe, 1_000)
    payee = _payee(fake_stripe)
    stripe.Transfer.create(amount=400, currency="usd", destination=payee.id, idempotency_key="k")

    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        stripe.Transfer.create(
            amount=500, currency="usd", destination=payee.id, idempotency_key="k"
        )
    assert _available() == 600


def test_a_connected_account_has_its_own_balance(fake_stripe):
    payee = _payee(fake_stripe)
    other = _payee(fake_stripe)
    fake_stripe.fund_balance(1_000, "usd", account=payee.id)

    mine = stripe.Balance.retrieve(stripe_account=payee.id)
    theirs = stripe.Balance.retrieve(stripe_account=other.id)

    assert mine.available[0].amount == 1_000
    assert theirs.available[0].amount == 0


def test_a_transfer_beyond_the_available_balance_is_refused(fake_stripe):
    _paid(fake_stripe, 1_000)
    payee = _payee(fake_stripe)

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.Transfer.create(amount=1_001, currency="usd", destination=payee.id)

    assert refused.value.code == "balance_insufficient"
    assert fake_stripe.objects("transfer") == []
    assert _available() == 1_000


def test_a_transfer_to_an_account_without_the_transfers_capability_is_refused(fake_stripe):
    _paid(fake_stripe, 1_000)
    payee = _payee(fake_stripe, active=False)

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.Transfer.create(amount=100, currency="usd", destination=payee.id)

    assert refused.value.code == "insufficient_capabilities_for_transfer"
    assert _available() == 1_000


def test_activating_an_account_sends_account_updated(fake_stripe, receiver):
    payee = _payee(fake_stripe, active=False)
    assert payee.capabilities.transfers == "inactive"

    fake_stripe.activate_account(payee.id)
    fake_stripe.deliver_pending()

    [event] = receiver.events()
    assert (event.type, event.account) == ("account.updated", payee.id)
    assert event.data.object.capabilities.transfers == "active"
    assert event.data.previous_attributes.capabilities.transfers == "inactive"
    assert stripe.Account.retrieve(payee.id).payouts_enabled is True


def test_an_account_link_page_activates_the_account_and_returns(fake_stripe):
    payee = _payee(fake_stripe, active=False)
    link = stripe.AccountLink.create(
        account=payee.id,
        refresh_url="http://testserver/onboarding/refresh/",
        return_url="http://testserver/onboarding/done/",
        type="account_onboarding",
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(link.url)

    assert redirect.value.code == 303
    assert redirect.value.headers["Location"] == "http://testserver/onboarding/done/"
    assert stripe.Account.retrieve(payee.id).capabilities.transfers == "active"


def test_a_reversal_restores_the_balance_and_sends_transfer_reversed(fake_stripe, receiver):
    _paid(fake_stripe, 1_000)
    payee = _payee(fake_stripe)
    transfer = stripe.Transfer.create(amount=600, currency="usd", destination=payee.id)
    assert _available() == 400
    assert _available(stripe_account=payee.id) == 600
    fake_stripe.deliver_pending()

    reversal = stripe.Transfer.create_reversal(transfer.id, amount=250)
    fake_stripe.deliver_pending()

    assert (reversal.object, reversal.amount, reversal.transfer) == (
        "transfer_reversal",
        250,
        transfer.id,
    )
    assert _available() == 650
    assert _available(stripe_account=payee.id) == 350
    event = receiver.events()[-1]
    assert event.type == "transfer.reversed"
    assert (event.data.object.amount_reversed, event.data.object.reversed) == (250, False)
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Transfer.create_reversal(transfer.id, amount=351)


def test_transfers_are_listed_by_transfer_group(fake_stripe):
    fake_stripe.fund_balance(1_000)
    payee = _payee(fake_stripe)
    mine = stripe.Transfer.create(
        amount=100, currency="usd", destination=payee.id, transfer_group="set-7"
    )
    stripe.Transfer.create(amount=100, currency="usd", destination=payee.id, transfer_group="x")

    listed = stripe.Transfer.list(transfer_group="set-7")

    assert [t.id for t in listed.data] == [mine.id]


def test_partial_refunds_add_up_and_an_over_refund_is_refused(fake_stripe, receiver):
    session = _paid(fake_stripe, 1_000)

    stripe.Refund.create(payment_intent=session.payment_intent, amount=300)
    rest = stripe.Refund.create(payment_intent=session.payment_intent)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.Refund.create(payment_intent=session.payment_intent, amount=1)
    fake_stripe.deliver_pending()

    assert rest.amount == 700
    assert refused.value.code == "charge_already_refunded"
    assert _available() == 0
    refunded = [e for e in receiver.events() if e.type == "charge.refunded"]
    assert [e.data.object.amount_refunded for e in refunded] == [300, 1_000]
    assert refunded[-1].data.object.refunded is True


def test_a_refund_beyond_what_is_left_is_refused(fake_stripe):
    session = _paid(fake_stripe, 1_000)
    stripe.Refund.create(payment_intent=session.payment_intent, amount=600)

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.Refund.create(payment_intent=session.payment_intent, amount=401)

    assert (refused.value.code, refused.value.param) == ("amount_too_large", "amount")
    assert _available() == 400


def test_balance_counts_payments_transfers_and_refunds(fake_stripe):
    first = _paid(fake_stripe, 1_000)
    _paid(fake_stripe, 500)
    payee = _payee(fake_stripe)
    stripe.Transfer.create(amount=300, currency="usd", destination=payee.id)
    stripe.Refund.create(payment_intent=first.payment_intent, amount=100)

    balance = stripe.Balance.retrieve()

    assert (balance.object, balance.available[0].amount, balance.available[0].currency) == (
        "balance",
        1_100,
        "usd",
    )


def test_events_are_delivered_out_of_order_and_replayed(fake_stripe, receiver):
    payee = _payee(fake_stripe, active=False)
    fake_stripe.activate_account(payee.id)
    fake_stripe.complete_checkout_session(_checkout().id)
    updated, completed = fake_stripe.pending_events()

    fake_stripe.deliver(completed["id"], updated["id"])
    fake_stripe.redeliver(completed["id"])

    assert [e.id for e in receiver.events()] == [completed["id"], updated["id"], completed["id"]]
    assert fake_stripe.pending_events() == []


def test_immediate_mode_delivers_before_the_call_returns(fake_stripe, receiver):
    fake_stripe.send_webhooks_to(receiver.url, secret=WEBHOOK_SECRET, mode="immediate")
    fake_stripe.fund_balance(500)
    payee = _payee(fake_stripe)

    stripe.Transfer.create(amount=100, currency="usd", destination=payee.id)

    assert [e.type for e in receiver.events()] == ["account.updated", "transfer.created"]


def test_stripe_client_with_a_base_address_works_too(fake_stripe):
    client = stripe.StripeClient("sk_test_other", base_addresses={"api": fake_stripe.url})

    account = client.v1.accounts.create(params={"type": "express"})

    assert client.v1.accounts.retrieve(account.id).id == account.id


def test_an_unknown_parameter_is_refused_as_stripe_does(fake_stripe):
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: destinaton"):
        stripe.Transfer.create(amount=100, currency="usd", destinaton="acct_x")


def test_a_live_or_missing_key_is_refused(fake_stripe):
    with pytest.raises(stripe.AuthenticationError):
        stripe.Balance.retrieve(api_key="sk_live_nope")


def test_a_missing_object_is_a_404(fake_stripe):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.Transfer.retrieve("tr_missing")

    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_the_validator_names_the_field_of_a_malformed_object():
    transfer = stripe_spec.load_spec()["components"]["schemas"]["transfer"]
    good = {
        "id": "tr_1",
        "object": "transfer",
        "amount": 100,
        "amount_reversed": 0,
        "created": 1,
        "currency": "usd",
        "livemode": False,
        "metadata": {},
        "reversals": {"object": "list", "data": [], "has_more": False, "url": "/v1/x"},
        "reversed": False,
        "destination": "acct_1",
    }
    stripe_spec.validate(good, transfer, "transfer")

    malformed = {**good, "amount": "100", "destination": 7, "colour": "red"}
    del malformed["livemode"]
    with pytest.raises(SpecError) as caught:
        stripe_spec.validate_object(malformed)

    message = str(caught.value)
    assert "transfer.amount: expected integer" in message
    assert "transfer: missing required field 'livemode'" in message
    assert "transfer: field 'colour' is not in the spec" in message
    assert "transfer.destination" in message


def test_a_response_off_the_spec_fails_loudly(fake_stripe, monkeypatch):
    original = fake_stripe.store.balance
    monkeypatch.setattr(
        fake_stripe.store, "balance", lambda account: {**original(account), "livemode": "no"}
    )

    with pytest.raises(stripe.APIError, match=r"balance\.livemode: expected boolean"):
        stripe.Balance.retrieve()

    assert fake_stripe.failures  # the fixture would fail the test at teardown
    fake_stripe.failures.clear()


def test_every_event_object_matches_the_spec(fake_stripe):
    session = _paid(fake_stripe, 1_000)
    payee = _payee(fake_stripe)
    transfer = stripe.Transfer.create(amount=100, currency="usd", destination=payee.id)
    stripe.Transfer.create_reversal(transfer.id)
    stripe.Refund.create(payment_intent=session.payment_intent, amount=10)

    for event in fake_stripe.events():
        stripe_spec.validate_object(event)
        stripe_spec.validate_object(event["data"]["object"])
    assert {e["type"] for e in fake_stripe.events()} == {
        "checkout.session.completed",
        "account.updated",
        "transfer.created",
        "transfer.reversed",
        "refund.created",
        "charge.refunded",
    }


def test_webhooks_reach_the_live_server(fake_stripe_live, live_server):
    fake_stripe_live.complete_checkout_session(_checkout().id)

    [delivery] = fake_stripe_live.deliver_pending()

    # Django answered (the product's webhook view decides how); the payload is the event.
    assert delivery.url.startswith(live_server.url) and delivery.status != 0
    assert json.loads(delivery.payload)["type"] == "checkout.session.completed"


def test_background_mode_delivers_without_being_asked(fake_stripe, receiver):
    fake_stripe.send_webhooks_to(receiver.url, secret=WEBHOOK_SECRET, mode="background")

    _payee(fake_stripe)

    for _ in range(100):
        if receiver.received:
            break
        time.sleep(0.02)
    assert [e.type for e in receiver.events()] == ["account.updated"]


def test_form_parameters_nest_as_stripe_python_encodes_them():
    body = (
        "line_items[0][price_data][unit_amount]=5&line_items[0][quantity]=2"
        "&line_items[1][quantity]=1&metadata[task_set]=7&metadata[empty]=&expand[]=a&expand[]=b"
    )

    assert parse(body) == {
        "line_items": [{"price_data": {"unit_amount": "5"}, "quantity": "2"}, {"quantity": "1"}],
        "metadata": {"task_set": "7", "empty": ""},
        "expand": ["a", "b"],
    }
