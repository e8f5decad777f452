"""pytest fixtures: a fake Stripe for every test that asks, reset between tests.

Registered for the whole suite through `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from tests.fake_stripe.server import FakeStripe

SECRET_KEY = "sk_test_fake"
WEBHOOK_SECRET = "whsec_test"


@pytest.fixture(scope="session")
def _fake_stripe_server() -> Iterator[FakeStripe]:
    # One server for the session: loading Stripe's spec takes about 2 s.
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_stripe(_fake_stripe_server: FakeStripe, settings) -> Iterator[FakeStripe]:
    """The fake, empty, with settings and stripe-python pointed at it for this test.

    Fails the test at teardown if anything the fake returned or sent did not match
    Stripe's OpenAPI spec, even when the code under test swallowed the error.
    """
    fake = _fake_stripe_server
    fake.reset()
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    saved = stripe.api_base, stripe.api_key
    stripe.api_base, stripe.api_key = fake.url, SECRET_KEY
    try:
        yield fake
    finally:
        stripe.api_base, stripe.api_key = saved
    assert not fake.failures, "\n".join(fake.failures)


@pytest.fixture
def fake_stripe_webhook_path() -> str:
    """Where the product receives Stripe's webhooks; override it where that is known."""
    return "/stripe/webhook/"


@pytest.fixture
def fake_stripe_live(fake_stripe: FakeStripe, live_server, fake_stripe_webhook_path) -> FakeStripe:
    """The fake, sending its (signed) webhooks to Django's live_server, delivered on
    `deliver_pending()`."""
    fake_stripe.send_webhooks_to(live_server.url + fake_stripe_webhook_path, secret=WEBHOOK_SECRET)
    return fake_stripe
