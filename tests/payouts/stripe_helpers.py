"""Driving the funding pages and the webhook the way Stripe does: events made by the
fake Stripe, signed with the webhook secret, posted as raw JSON."""

import json
import urllib.error
import urllib.request

from marketplace.models import Organization
from payouts.models import LedgerAccount
from payouts.stripe_models import FundingSession
from tests.fake_stripe import sign
from tests.fake_stripe.fixtures import WEBHOOK_SECRET

WEBHOOK = "/stripe/webhook/"


def post_event(client, event: dict, *, secret: str = WEBHOOK_SECRET):
    payload = json.dumps(event, indent=2)
    return client.post(
        WEBHOOK,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, secret),
    )


def start_funding(client, organization: Organization, amount="50.00", currency="USD"):
    """POST the fund form; returns the row, after checking we were sent to Stripe."""
    response = client.post(
        "/requester/billing/fund/",
        {"organization": organization.pk, "amount": amount, "currency": currency},
    )
    assert response.status_code == 302, response.content.decode()
    session = FundingSession.objects.latest("pk")
    assert response["Location"] == session.checkout_url
    return session


def pay_on_stripe(session: FundingSession, *, async_payment=False) -> str:
    """Open the checkout url as the payer's browser would: the fake pays and sends
    us back. Returns where it sent us (our success url)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
    url = session.checkout_url + ("?async=1" if async_payment else "")
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 303, exc.code
        return exc.headers["Location"]
    raise AssertionError("the fake's checkout page did not redirect")


def event_for(fake, event_type: str, session: FundingSession) -> dict:
    [event] = [
        e for e in fake.events(event_type) if e["data"]["object"]["id"] == session.stripe_session_id
    ]
    return event


def balance(organization: Organization, currency: str = "USD") -> int:
    account = LedgerAccount.objects.filter(
        organization=organization, kind=LedgerAccount.Kind.ORGANIZATION_BALANCE, currency=currency
    ).first()
    return account.balance_minor if account else 0
