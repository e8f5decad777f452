"""The Stripe Connect rail against the fake Stripe: onboarding makes one Express
account per worker, account.updated makes it payable, a run pays one transfer per
line grouped by run and keyed by line, refusals and reversals put the money back
visibly and once, reconcile reads Stripe's transfers, racing runs pay once."""

import copy
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payouts import connect_onboarding, runs, stripe_api
from payouts.models import JournalEntry, LedgerAccount, PayoutDestination, PayoutLine
from payouts.reconcile import differences
from payouts.stripe_models import StripeEvent
from tests.concurrency import errors, race
from tests.factories import WorkerProfileFactory
from tests.payouts.helpers import available, balance, paid, via_centre
from tests.payouts.stripe_helpers import post_event
from tests.work_helpers import published_set

Kind = LedgerAccount.Kind
CONNECT = PayoutDestination.Rail.STRIPE_CONNECT
LONG_AGO = timezone.now() - timedelta(days=30)
pytestmark = pytest.mark.django_db


class SimulatedCrash(Exception):
    pass


@pytest.fixture(autouse=True)
def _small_minimums(settings):
    # Test answers earn 5 cents each: the Connect minimum is lowered to 10 cents.
    settings.PAYOUT_MINIMUMS_MINOR = {**settings.PAYOUT_MINIMUMS_MINOR, CONNECT: {"USD": 10}}


@pytest.fixture
def labels(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org, requester=requester, admin=admin_user, regular=20, gold=5
    )


def worker_in(country="GB"):
    return WorkerProfileFactory(country=country).user


def earn(task_set, user, answers):
    for _ in range(answers):
        paid(task_set, user, when=LONG_AGO)
    return user


def account_event(fake, account_id, event_type="account.updated"):
    return [e for e in fake.events(event_type) if e["data"]["object"]["id"] == account_id][-1]


def onboarded(fake, client, user, *, activate=True) -> PayoutDestination:
    """An Express account made through the service; activated at the fake and the
    account.updated webhook delivered."""
    destination = connect_onboarding.ensure_account(worker=user)
    if activate:
        fake.activate_account(destination.stripe_account_id)
        post_event(client, account_event(fake, destination.stripe_account_id))
        destination.refresh_from_db()
    return destination


def run():
    return runs.run_payouts(rail_name=CONNECT, currency="USD")


def transfer_requests(fake):
    return [r for r in fake.requests if r.method == "POST" and r.path == "/v1/transfers"]


# --- Onboarding -----------------------------------------------------------------------


def test_onboarding_makes_one_account_even_if_clicked_twice(fake_stripe, client):
    user = worker_in("GB")
    client.force_login(user)
    first = client.post(reverse("connect_start"))
    second = client.post(reverse("connect_start"))
    assert first.status_code == second.status_code == 302
    assert first["Location"].startswith(fake_stripe.url + "/_fake/onboarding/")
    [account] = fake_stripe.objects("account")
    assert account["type"] == "express" and account["country"] == "GB"
    assert account["capabilities"] == {"transfers": "inactive"}
    destination = PayoutDestination.objects.get(worker=user)
    assert (destination.rail, destination.status) == (CONNECT, "onboarding")
    assert destination.stripe_account_id == account["id"]
    creates = [r for r in fake_stripe.requests if r.path == "/v1/accounts"]
    assert [r.idempotency_key for r in creates] == [f"connect-account:{user.pk}"]
    # GB is abroad for a US platform: Stripe's recipient service agreement.
    assert creates[0].params["tos_acceptance"] == {"service_agreement": "recipient"}


def test_a_lost_account_id_is_recovered_by_the_idempotency_key(fake_stripe):
    user = worker_in("FR")
    first = connect_onboarding.ensure_account(worker=user)
    # As if we crashed after Stripe answered and before the id was saved.
    PayoutDestination.objects.filter(pk=first.pk).update(stripe_account_id="")
    again = connect_onboarding.ensure_account(worker=user)
    assert again.stripe_account_id == first.stripe_account_id
    assert len(fake_stripe.objects("account")) == 1
    assert [r.replayed for r in fake_stripe.requests if r.path == "/v1/accounts"] == [False, True]


def test_the_earnings_page_offers_stripe_only_in_connect_countries(fake_stripe, client, centre):
    gb = worker_in("GB")
    client.force_login(gb)
    page = client.get(reverse("worker_earnings")).content.decode()
    assert 'data-state="not_set_up"' in page and "Set up bank payouts with Stripe" in page

    kh = worker_in("KH")
    via_centre(kh, centre)
    client.force_login(kh)
    page = client.get(reverse("worker_earnings")).content.decode()
    assert 'data-state="unavailable"' in page and "partner centre" in page
    assert "Set up bank payouts with Stripe" not in page
    assert client.post(reverse("connect_start")).status_code == 302
    assert fake_stripe.objects("account") == []
    assert PayoutDestination.objects.get(worker=kh).rail == "partner_centre"


def test_only_workers_start_onboarding(fake_stripe, client, requester):
    client.force_login(requester)
    assert client.post(reverse("connect_start")).status_code == 403
    assert fake_stripe.objects("account") == []


def test_finishing_stripes_form_returns_to_a_page_showing_active(fake_stripe, client):
    user = worker_in("DE")
    client.force_login(user)
    link = client.post(reverse("connect_start"))["Location"]

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as sent_back:
        opener.open(link, timeout=10)  # the fake activates the account and redirects
    location = sent_back.value.headers["Location"]
    assert location.endswith(reverse("connect_return"))
    # The webhook has not arrived; the return page asks Stripe itself.
    page = client.get(reverse("connect_return")).content.decode()
    assert 'data-state="active"' in page
    assert PayoutDestination.objects.get(worker=user).status == "active"


def test_account_updated_activates_then_restricts(fake_stripe, client):
    user = worker_in("GB")
    destination = onboarded(fake_stripe, client, user)
    assert destination.status == "active"
    client.force_login(user)
    assert 'data-state="active"' in client.get(reverse("worker_earnings")).content.decode()

    event = copy.deepcopy(account_event(fake_stripe, destination.stripe_account_id))
    event["id"] = "evt_restricted_1"
    event["data"]["object"]["capabilities"]["transfers"] = "inactive"
    post_event(client, event)
    destination.refresh_from_db()
    assert destination.status == "restricted"
    page = client.get(reverse("worker_earnings")).content.decode()
    assert 'data-state="restricted"' in page and "Continue with Stripe" in page


def test_a_centre_paid_worker_switches_to_stripe_only_when_active(fake_stripe, client, centre):
    user = worker_in("IE")
    via_centre(user, centre)
    destination = onboarded(fake_stripe, client, user, activate=False)
    assert (destination.rail, destination.status) == ("partner_centre", "active")
    fake_stripe.activate_account(destination.stripe_account_id)
    post_event(client, account_event(fake_stripe, destination.stripe_account_id))
    destination.refresh_from_db()
    assert (destination.rail, destination.status) == (CONNECT, "active")


# --- Paying -----------------------------------------------------------------------------


def test_a_run_pays_active_connect_workers_one_transfer_each(fake_stripe, client, labels):
    fake_stripe.fund_balance(10_000, "usd")
    first = earn(labels, worker_in("GB"), 4)  # 20 cents
    second = earn(labels, worker_in("FR"), 2)  # 10 cents
    waiting = earn(labels, worker_in("DE"), 4)
    accounts = {u.pk: onboarded(fake_stripe, client, u).stripe_account_id for u in (first, second)}
    onboarded(fake_stripe, client, waiting, activate=False)  # not active: not paid

    payout_run = run()

    lines = {line.worker_id: line for line in PayoutLine.objects.filter(run=payout_run)}
    assert set(lines) == {first.pk, second.pk}
    transfers = {t["destination"]: t for t in fake_stripe.objects("transfer")}
    assert len(transfers) == 2
    for worker_id, line in lines.items():
        transfer = transfers[accounts[worker_id]]
        assert (transfer["amount"], transfer["currency"]) == (line.amount_minor, "usd")
        assert transfer["transfer_group"] == f"run-{payout_run.pk}"
        assert transfer["metadata"]["payout_line"] == str(line.pk)
        assert (line.status, line.external_id) == ("paid", transfer["id"])
    assert sorted(r.idempotency_key for r in transfer_requests(fake_stripe)) == sorted(
        line.idempotency_key for line in lines.values()
    )
    assert (available(first), available(second), available(waiting)) == (0, 0, 20)
    assert balance(Kind.PAID_OUT, reference=CONNECT) == 30
    assert fake_stripe.available_balance("usd") == 10_000 - 30
    assert differences() == []


def test_a_rerun_after_a_crash_between_transfer_and_commit_pays_once(
    fake_stripe, client, labels, monkeypatch
):
    fake_stripe.fund_balance(10_000, "usd")
    user = earn(labels, worker_in("GB"), 4)
    onboarded(fake_stripe, client, user)
    record = runs.record_rail_result

    def crash(**kwargs):
        raise SimulatedCrash  # Stripe transferred; our record of it is lost

    monkeypatch.setattr(runs, "record_rail_result", crash)
    with pytest.raises(SimulatedCrash):
        run()
    line = PayoutLine.objects.get(worker=user)
    assert line.status == "pending" and len(fake_stripe.objects("transfer")) == 1

    monkeypatch.setattr(runs, "record_rail_result", record)
    run()

    line.refresh_from_db()
    [transfer] = fake_stripe.objects("transfer")
    assert (line.status, line.external_id) == ("paid", transfer["id"])
    sent = transfer_requests(fake_stripe)
    assert [r.idempotency_key for r in sent] == [line.idempotency_key] * 2
    assert [r.replayed for r in sent] == [False, True]
    assert fake_stripe.available_balance("usd") == 10_000 - 20
    assert PayoutLine.objects.filter(worker=user).count() == 1
    assert differences() == []


def test_an_insufficient_platform_balance_fails_the_line_and_returns_the_money(
    fake_stripe, client, labels
):
    user = earn(labels, worker_in("GB"), 4)
    onboarded(fake_stripe, client, user)  # the platform's Stripe balance is empty

    run()

    line = PayoutLine.objects.get(worker=user)
    assert line.status == "failed" and "balance_insufficient" in line.failure_reason
    assert available(user) == 20 and fake_stripe.objects("transfer") == []
    assert JournalEntry.objects.filter(kind="payout.failed").count() == 1
    client.force_login(user)
    assert "Failed: back in your balance" in client.get(reverse("worker_earnings")).content.decode()
    assert differences() == []


def test_an_account_stripe_will_not_pay_fails_the_line(fake_stripe, client, labels):
    fake_stripe.fund_balance(10_000, "usd")
    user = earn(labels, worker_in("GB"), 4)
    destination = onboarded(fake_stripe, client, user, activate=False)
    # Our row says active, Stripe's capability is not: Stripe refuses, nothing lost.
    PayoutDestination.objects.filter(pk=destination.pk).update(status="active")
    run()
    line = PayoutLine.objects.get(worker=user)
    assert line.status == "failed" and "insufficient_capabilities" in line.failure_reason
    assert available(user) == 20
    assert fake_stripe.available_balance("usd") == 10_000


# --- Money coming back -----------------------------------------------------------------


@pytest.fixture
def paid_line(fake_stripe, client, labels):
    fake_stripe.fund_balance(10_000, "usd")
    user = earn(labels, worker_in("GB"), 4)
    onboarded(fake_stripe, client, user)
    run()
    return PayoutLine.objects.get(worker=user)


def reverse_at_stripe(line, amount=None):
    params = {"amount": amount} if amount else {}
    stripe_api.client().v1.transfers.reversals.create(line.external_id, params=params)


def test_a_reversed_transfer_returns_the_money_once_however_often_it_is_sent(
    fake_stripe, client, paid_line
):
    reverse_at_stripe(paid_line)
    [event] = fake_stripe.events("transfer.reversed")
    for _ in range(2):
        assert post_event(client, event).status_code == 200
    again = copy.deepcopy(event)
    again["id"] = "evt_same_reversal_other_id"
    post_event(client, again)

    paid_line.refresh_from_db()
    assert paid_line.status == "failed" and "reversed" in paid_line.failure_reason
    assert available(paid_line.worker) == 20
    assert JournalEntry.objects.filter(kind="payout.reversed").count() == 1
    assert balance(Kind.PAID_OUT, reference=CONNECT) == 0
    assert StripeEvent.objects.filter(type="transfer.reversed").count() == 2
    client.force_login(paid_line.worker)
    assert "Failed: back in your balance" in client.get(reverse("worker_earnings")).content.decode()
    assert differences() == []


def test_a_partial_reversal_returns_only_that_part(fake_stripe, client, paid_line):
    reverse_at_stripe(paid_line, amount=5)
    reverse_at_stripe(paid_line)  # the other 15
    first, second = fake_stripe.events("transfer.reversed")
    post_event(client, second)  # out of order: the later, cumulative one first
    post_event(client, first)
    paid_line.refresh_from_db()
    assert paid_line.status == "failed"
    assert available(paid_line.worker) == 20
    assert differences() == []


def test_a_failed_bank_payout_reverses_the_transfer_and_returns_the_money(
    fake_stripe, client, paid_line
):
    event = {
        "id": "evt_payout_failed_1",
        "object": "event",
        "type": "payout.failed",
        "account": paid_line.destination_account,
        "created": 1,
        "livemode": False,
        "data": {
            "object": {
                "id": "po_1",
                "object": "payout",
                "amount": paid_line.amount_minor,
                "currency": "usd",
                "failure_code": "account_closed",
                "status": "failed",
            }
        },
    }
    assert post_event(client, event).status_code == 200
    [transfer] = fake_stripe.objects("transfer")
    assert transfer["reversed"] is True
    paid_line.refresh_from_db()
    assert paid_line.status == "failed" and "po_1" in paid_line.failure_reason
    assert available(paid_line.worker) == 20
    # Stripe's own transfer.reversed for that reversal changes nothing more.
    post_event(client, fake_stripe.events("transfer.reversed")[0])
    again = copy.deepcopy(event)
    again["id"] = "evt_payout_failed_2"
    post_event(client, again)
    assert available(paid_line.worker) == 20
    assert differences() == []


# --- Reconciliation and races ------------------------------------------------------------


def test_reconcile_matches_lines_to_stripe_then_reports_a_mismatch(fake_stripe, paid_line):
    assert differences() == []
    reverse_at_stripe(paid_line)  # its webhook never reaches us
    expected = f"payout line {paid_line.pk}: we say paid {paid_line.external_id}"
    assert any(d.startswith(expected) and "stripe_connect says failed" in d for d in differences())


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_pay_each_connect_worker_once(
    fake_stripe, client, requester_org, requester, admin_user
):
    labels = published_set(
        organization=requester_org, requester=requester, admin=admin_user, regular=20, gold=5
    )
    fake_stripe.fund_balance(10_000, "usd")
    workers = [earn(labels, worker_in("GB"), 3) for _ in range(4)]
    for user in workers:
        onboarded(fake_stripe, client, user)

    outcomes = race(run, run)

    assert errors(outcomes) == []
    assert sorted(r.line_count for r in outcomes) == [0, 4]
    assert len(fake_stripe.objects("transfer")) == 4
    assert len(transfer_requests(fake_stripe)) == 4
    for user in workers:
        assert PayoutLine.objects.get(worker=user).status == "paid"
        assert available(user) == 0
    assert fake_stripe.available_balance("usd") == 10_000 - 60
    assert differences() == []
