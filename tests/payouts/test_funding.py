"""Funding by Stripe Checkout and refunds of unspent balance, through the pages,
against the fake Stripe over real HTTP with the real stripe-python client."""

import pytest
import stripe
from django.test import Client

from payouts.models import JournalEntry, LedgerAccount
from payouts.services import credit_organization, get_account, post_entry
from payouts.stripe_models import FundingSession, Refund
from tests.payouts.stripe_helpers import (
    balance,
    event_for,
    pay_on_stripe,
    post_event,
    start_funding,
)

pytestmark = pytest.mark.django_db

COMPLETED = "checkout.session.completed"


@pytest.fixture
def rita(client, requester):
    client.force_login(requester)
    return client


def _funded(fake_stripe, rita, org, amount="50.00"):
    session = start_funding(rita, org, amount)
    pay_on_stripe(session)
    post_event(rita, event_for(fake_stripe, COMPLETED, session))
    session.refresh_from_db()
    assert session.status == "paid"
    return session


# --- funding ---------------------------------------------------------------------


def test_funding_opens_a_checkout_session_for_the_amount(fake_stripe, rita, requester_org):
    session = start_funding(rita, requester_org, "50.00")

    assert (session.amount_minor, session.currency, session.status) == (50_00, "USD", "open")
    [call] = [r for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
    assert call.idempotency_key == f"funding:{session.pk}"
    params = call.params
    assert params["mode"] == "payment" and params["client_reference_id"] == str(session.pk)
    price = params["line_items"][0]["price_data"]
    assert (price["unit_amount"], price["currency"]) == ("5000", "usd")
    assert params["success_url"].endswith(f"/requester/billing/fund/{session.pk}/")
    assert session.stripe_session_id.startswith("cs_test")


def test_the_redirect_back_credits_nothing(fake_stripe, rita, requester_org):
    session = start_funding(rita, requester_org)
    back = pay_on_stripe(session)

    page = rita.get(back)

    assert page.status_code == 200
    text = page.content.decode()
    assert "Payment received" in text and 'http-equiv="refresh"' in text
    session.refresh_from_db()
    assert (session.status, balance(requester_org)) == ("open", 0)


def test_the_status_page_says_paid_once_the_webhook_came(fake_stripe, rita, requester_org):
    session = _funded(fake_stripe, rita, requester_org)

    text = rita.get(f"/requester/billing/fund/{session.pk}/").content.decode()

    assert "50.00 USD was added" in text and "refresh" not in text


def test_a_cancelled_payment_says_nothing_was_charged(fake_stripe, rita, requester_org):
    session = start_funding(rita, requester_org)

    text = rita.get(f"/requester/billing/fund/{session.pk}/?cancelled=1").content.decode()

    assert "nothing was charged" in text and balance(requester_org) == 0


@pytest.mark.django_db(transaction=True)
def test_fund_pay_and_the_webhook_over_http_credit_once(fake_stripe_live, requester, requester_org):
    rita = Client()
    rita.force_login(requester)
    session = start_funding(rita, requester_org, "50.00")
    pay_on_stripe(session)

    [delivery] = fake_stripe_live.deliver_pending()
    [replay] = fake_stripe_live.redeliver(delivery.event_id)

    assert (delivery.status, replay.status) == (200, 200) and replay.body == "replayed"
    assert balance(requester_org) == 50_00
    assert JournalEntry.objects.filter(kind="funding.stripe").count() == 1
    assert rita.get("/requester/").content.decode().count("50.00 USD") == 1


@pytest.mark.parametrize(
    ("amount", "message"),
    [("abc", "Enter an amount"), ("0", "must be positive"), ("1.234", "at most 2 decimal")],
)
def test_bad_amounts_are_refused_clearly(fake_stripe, rita, requester_org, amount, message):
    response = rita.post(
        "/requester/billing/fund/",
        {"organization": requester_org.pk, "amount": amount, "currency": "USD"},
    )

    assert response.status_code == 400 and message in response.content.decode()
    assert not FundingSession.objects.exists() and not fake_stripe.requests


def test_stripe_refusing_to_start_shows_why_and_charges_nothing(
    fake_stripe, rita, requester_org, settings
):
    settings.STRIPE_SECRET_KEY = "sk_live_not_for_the_fake"

    response = rita.post(
        "/requester/billing/fund/",
        {"organization": requester_org.pk, "amount": "50.00", "currency": "USD"},
    )

    assert response.status_code == 400
    assert "Nothing was charged" in response.content.decode()
    assert FundingSession.objects.get().status == "failed"


def test_without_stripe_keys_the_page_points_to_the_admins(rita, requester_org, settings):
    settings.STRIPE_SECRET_KEY = ""

    page = rita.get("/requester/billing/fund/")
    posted = rita.post(
        "/requester/billing/fund/",
        {"organization": requester_org.pk, "amount": "50.00", "currency": "USD"},
    )

    assert page.status_code == 200 and "not configured" in page.content.decode()
    assert "contact the admins" in page.content.decode()
    assert posted.status_code == 400 and not FundingSession.objects.exists()
    assert rita.get("/requester/billing/refund/").status_code == 200


def test_only_members_fund_their_organization(fake_stripe, client, outsider, requester_org):
    client.force_login(outsider)

    response = client.post(
        "/requester/billing/fund/",
        {"organization": requester_org.pk, "amount": "50.00", "currency": "USD"},
    )

    assert response.status_code == 400 and "valid choice" in response.content.decode()
    assert not FundingSession.objects.exists()


def test_others_cannot_see_a_top_up(fake_stripe, rita, client, outsider, requester_org):
    session = start_funding(rita, requester_org)
    other = Client()
    other.force_login(outsider)

    assert other.get(f"/requester/billing/fund/{session.pk}/").status_code == 404


def test_workers_and_strangers_are_refused(fake_stripe, client, vetted_worker):
    assert client.get("/requester/billing/fund/").status_code == 302  # to the login page
    client.force_login(vetted_worker)
    assert client.get("/requester/billing/fund/").status_code == 403
    assert client.get("/requester/billing/refund/").status_code == 403


def test_the_dashboard_links_to_funding(rita):
    text = rita.get("/requester/").content.decode()
    assert "/requester/billing/fund/" in text and "/requester/billing/refund/" in text


# --- refunds -----------------------------------------------------------------------


def _refund(client, org, amount, currency="USD", submission="s1"):
    return client.post(
        "/requester/billing/refund/",
        {
            "organization": org.pk,
            "amount": amount,
            "currency": currency,
            "submission_id": submission,
        },
    )


def test_a_refund_goes_to_the_newest_payments_first(fake_stripe, rita, requester_org):
    older = _funded(fake_stripe, rita, requester_org, "30.00")
    newer = _funded(fake_stripe, rita, requester_org, "20.00")

    response = _refund(rita, requester_org, "35.00")

    refund = Refund.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{refund.pk}/")
    assert refund.status == "succeeded"
    calls = [r for r in fake_stripe.requests if r.path == "/v1/refunds"]
    assert [(c.params["payment_intent"], c.params["amount"], c.idempotency_key) for c in calls] == [
        (newer.payment_intent_id, "2000", f"refund:{refund.pk}:{newer.pk}"),
        (older.payment_intent_id, "1500", f"refund:{refund.pk}:{older.pk}"),
    ]
    assert balance(requester_org) == 15_00
    assert refund.entry.kind == "refund.stripe"
    assert get_account(kind=LedgerAccount.Kind.REFUNDS, currency="USD").balance_minor == 35_00
    assert "Refunded" in rita.get(response["Location"]).content.decode()


def test_a_double_submitted_refund_form_refunds_once(fake_stripe, rita, requester_org):
    _funded(fake_stripe, rita, requester_org)

    _refund(rita, requester_org, "10.00", submission="same")
    _refund(rita, requester_org, "10.00", submission="same")

    assert Refund.objects.count() == 1 and balance(requester_org) == 40_00
    assert len([r for r in fake_stripe.requests if r.path == "/v1/refunds"]) == 1


def test_never_more_than_the_balance(fake_stripe, rita, requester_org):
    _funded(fake_stripe, rita, requester_org)
    # 45.00 committed to a task set's escrow: only 5.00 is unspent.
    escrow = get_account(
        kind=LedgerAccount.Kind.SET_ESCROW, currency="USD", organization=requester_org,
        reference="set-1",
    )  # fmt: skip
    balance_account = get_account(
        kind=LedgerAccount.Kind.ORGANIZATION_BALANCE, currency="USD", organization=requester_org
    )
    post_entry(kind="escrow.fund", memo="t", lines=[(balance_account, -45_00), (escrow, 45_00)])

    response = _refund(rita, requester_org, "6.00")

    assert response.status_code == 400 and "5.00 USD" in response.content.decode()
    assert not Refund.objects.exists() and balance(requester_org) == 5_00
    assert not [r for r in fake_stripe.requests if r.path == "/v1/refunds"]


def test_invoiced_credit_is_not_refunded_to_a_card(fake_stripe, rita, requester_org, admin_user):
    credit_organization(
        organization=requester_org, amount_minor=100_00, currency="USD", actor=admin_user,
        reason="invoice 7",
    )  # fmt: skip

    response = _refund(rita, requester_org, "10.00")

    assert response.status_code == 400 and "ask the admins" in response.content.decode()
    assert balance(requester_org) == 100_00 and not Refund.objects.exists()


def test_a_refund_stripe_refuses_is_put_back_visibly(fake_stripe, rita, requester_org):
    session = _funded(fake_stripe, rita, requester_org)
    # Refunded already at Stripe (say, from its dashboard): our refund will be refused.
    stripe.Refund.create(payment_intent=session.payment_intent_id)

    response = _refund(rita, requester_org, "20.00")

    refund = Refund.objects.get()
    assert refund.status == "failed" and balance(requester_org) == 50_00
    reversal = refund.reversal_entry
    assert reversal.kind == "refund.reversed" and reversal.reverses_id == refund.entry_id
    assert "refused" in reversal.memo
    session.refresh_from_db()
    assert session.refunded_minor == 0
    page = rita.get(response["Location"]).content.decode()
    assert "back in your balance" in page and "already been refunded" in page


def test_a_refund_lost_on_the_way_stays_reserved_and_is_sent_again(
    fake_stripe, rita, requester_org, settings
):
    from payouts.refunds import send_refund

    _funded(fake_stripe, rita, requester_org)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens: no answer

    _refund(rita, requester_org, "20.00")

    refund = Refund.objects.get()
    assert refund.status == "pending" and balance(requester_org) == 30_00
    settings.STRIPE_API_BASE = fake_stripe.url
    assert send_refund(refund=refund).status == "succeeded"
    assert balance(requester_org) == 30_00
    assert len(fake_stripe.objects("refund")) == 1


def test_only_members_refund_their_organization(fake_stripe, rita, client, outsider, requester_org):
    _funded(fake_stripe, rita, requester_org)
    client.force_login(outsider)

    response = _refund(client, requester_org, "10.00")

    assert response.status_code == 400 and not Refund.objects.exists()
    assert balance(requester_org) == 50_00
