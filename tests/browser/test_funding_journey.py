"""A requester tops up 50.00 USD in a real browser: our page sends them to Stripe's
(the fake's) checkout, which pays and sends them back; the balance moves only when
the signed webhook reaches the live server, and the dashboard then shows it."""

import re

import pytest

from payouts.stripe_models import FundingSession
from tests.browser.test_vetting_journey import log_in
from tests.payouts.stripe_helpers import balance

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_requester_funds_by_card(live_server, desktop, fake_stripe_live, requester, requester_org):
    base = live_server.url
    log_in(desktop, base, "rita")
    desktop.goto(f"{base}/requester/")
    desktop.click("text=Add funds")
    desktop.fill("input[name=amount]", "50.00")
    desktop.select_option("select[name=currency]", "USD")
    desktop.click("button:has-text('Continue to payment')")

    # The fake's hosted page pays and redirects to our status page.
    desktop.wait_for_url(re.compile(r".*/requester/billing/fund/\d+/$"))
    assert "Payment received" in desktop.inner_text("#funding-status")
    assert FundingSession.objects.get().status == "open"  # the redirect credited nothing
    assert balance(requester_org) == 0

    [delivery] = fake_stripe_live.deliver_pending()
    assert delivery.ok
    # The status page refreshes itself until Stripe has confirmed.
    desktop.wait_for_selector("#funding-status[data-status=paid]", timeout=15_000)
    assert "50.00 USD was added" in desktop.inner_text("#funding-status")

    desktop.goto(f"{base}/requester/")
    assert desktop.inner_text(".balance").strip() == "50.00 USD"
