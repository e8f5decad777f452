"""A small stateful fake Stripe, served over real HTTP on 127.0.0.1, so no test reaches Stripe.

The code under test uses the real stripe-python client; only its base address changes.
Everything the fake answers, and every event it sends, is checked against Stripe's
published OpenAPI spec (spec.py), so the fake cannot drift from Stripe unnoticed.

Fixtures (tests/fake_stripe/fixtures.py, registered in tests/conftest.py)
    fake_stripe         the server, emptied for this test; sets settings.STRIPE_API_BASE,
                        STRIPE_SECRET_KEY="sk_test_fake", STRIPE_WEBHOOK_SECRET="whsec_test"
                        and stripe.api_base / stripe.api_key; fails the test at teardown
                        if any response or event broke the spec.
    fake_stripe_live    the same, webhooks sent to live_server.url + fake_stripe_webhook_path
                        (override that fixture with the product's webhook path).

API endpoints (form-encoded, `Authorization: Bearer sk_test_...`, `Stripe-Account` honoured)
    POST/GET /v1/checkout/sessions, GET /v1/checkout/sessions/{id}, POST .../{id}/expire
        mode=payment, line_items[][price_data] only; payment_intent_data[transfer_group],
        [metadata], [description] go to the payment intent made on completion.
    GET  /v1/payment_intents/{id}
    POST /v1/refunds (payment_intent or charge, optional partial amount; no over-refund),
         GET /v1/refunds/{id}                  events: refund.created, charge.refunded
    POST /v1/accounts (capabilities[transfers][requested]=true: "inactive" until
         activated), GET/POST /v1/accounts/{id}, POST /v1/account_links
    POST /v1/transfers (refused beyond the available balance, code balance_insufficient,
         or to an account whose transfers capability is not active, code
         insufficient_capabilities_for_transfer), GET /v1/transfers?transfer_group=&destination=,
         GET /v1/transfers/{id}                event: transfer.created
    POST/GET /v1/transfers/{id}/reversals      event: transfer.reversed
    GET  /v1/balance (the platform's, or a connected account's with Stripe-Account)
    Unknown parameters (per the spec's request schema) are refused like Stripe does.
    `expand[]=field` works on the retrieve endpoints for id fields of stored objects.

Money: a paid checkout adds its amount to the platform's *available* balance at once
(real Stripe keeps card funds pending for days); refunds and transfers take from it,
reversals give back. `fake.fund_balance(amount, "usd")` tops it up directly.

Idempotency: a POST's `Idempotency-Key` is kept per (Stripe-Account, key). The same key
with the same parameters replays the first response (header `Idempotent-Replayed: true`;
no second effect, no new event); with other parameters, or on another endpoint, it is a
400 `idempotency_error` (stripe-python raises `stripe.IdempotencyError`). Errors found
while validating parameters are not kept, as at Stripe; errors of execution
(an insufficient balance) are.

Test controls (Python methods of the FakeStripe the fixture yields)
    fake.complete_checkout_session(session_id)      the customer pays: payment intent and
        charge made, session complete/paid, balance credited, checkout.session.completed
    fake.complete_checkout_session(session_id, async_payment=True)   complete but unpaid
        (payment intent "processing"), then fake.succeed_async_payment(session_id) or
        fake.fail_async_payment(session_id): ...async_payment_succeeded / ..._failed
    fake.activate_account(account_id)     requested capabilities "active", charges and
        payouts enabled, account.updated (with previous_attributes, `account` set)
    fake.fund_balance(amount, currency="usd", account=None)
    fake.available_balance(currency="usd", account=None) -> int
    fake.objects("transfer") -> stored objects of a kind;  fake.requests -> every API call
    fake.events(type=None), fake.event(event_id), fake.pending_events()
    Hosted pages for browser tests: a session's `url` (GET pays it and redirects to
    success_url; `?cancel=1` goes to cancel_url, `?async=1` pays asynchronously) and an
    account link's `url` (GET activates the account and redirects to return_url).

Webhooks
    fake.send_webhooks_to(url, secret="whsec_test", mode="manual")
        manual      events wait until the test calls fake.deliver_pending()
        immediate   delivered before the API call / control method that made them returns
        background  a thread delivers them as they happen
    Each delivery POSTs the event JSON with `Stripe-Signature: t=<ts>,v1=<hmac-sha256 of
    "<ts>.<payload>">`, which stripe.Webhook.construct_event verifies.
    fake.deliver_pending() -> [Delivery]     every waiting event, oldest first, now
    fake.deliver(evt_b, evt_a) -> [Delivery] these, in this order (out of order)
    fake.redeliver(event_id)                 send one again (Stripe retries and replays)
    fake.deliveries                          every Delivery: event_id, status, body, ...
    webhooks.sign(payload, secret, timestamp) makes a header for hand-made requests.
"""

from tests.fake_stripe.server import FakeStripe
from tests.fake_stripe.spec import SpecError
from tests.fake_stripe.webhooks import Delivery, sign

__all__ = ["Delivery", "FakeStripe", "SpecError", "sign"]
