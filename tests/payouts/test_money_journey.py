"""The money issue end to end, against the fake Stripe: a requester funds by card
(credited only by the signed webhook), publishes a set, workers earn on approval,
the hold passes, one payout run pays a worker through Stripe Connect and puts
another in their partner centre's file; a replayed webhook and a re-run change
nothing, and reconcile is clean."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from payouts import runs
from payouts.earnings import mature_earnings
from payouts.models import JournalEntry, LedgerAccount, PayoutLine
from tasks import services, work
from tasks.models import Task, TaskSet
from tests.factories import WorkerProfileFactory
from tests.payouts.helpers import available, balance, pending, via_centre
from tests.payouts.stripe_helpers import event_for, pay_on_stripe, post_event, start_funding
from tests.payouts.test_connect import onboarded
from tests.work_helpers import qualify, submit_committed

pytestmark = pytest.mark.django_db
Kind = LedgerAccount.Kind


@pytest.fixture(autouse=True)
def _small_minimums_and_no_hold(settings):
    settings.PAYOUT_MINIMUMS_MINOR = {
        "stripe_connect": {"USD": 10},
        "partner_centre": {"USD": 10},
    }
    settings.EARNINGS_HOLD_DAYS = 0


def organization_balance(org) -> int:
    return balance(Kind.ORGANIZATION_BALANCE, organization=org)


def test_fund_earn_and_pay_out_through_both_rails(
    fake_stripe, client, requester, requester_org, centre
):
    # Funding: the redirect credits nothing; the signed webhook credits once.
    client.force_login(requester)
    session = start_funding(client, requester_org, "50.00")
    pay_on_stripe(session)
    assert organization_balance(requester_org) == 0
    completed = event_for(fake_stripe, "checkout.session.completed", session)
    assert post_event(client, completed).status_code == 200
    assert organization_balance(requester_org) == 50_00

    # A set paid from that balance.
    task_set = TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Signs",
        kind=TaskSet.Kind.LABEL,
        label_options=["stop", "other"],
        reward_minor=5,
        expected_seconds_per_task=20,
        assignments_per_task=2,
        gold_ratio_permille=0,
    )
    Task.objects.bulk_create(
        [Task(task_set=task_set, external_id=f"r{i}", payload_text="sign") for i in range(3)]
        + [
            Task(task_set=task_set, external_id=f"g{i}", is_gold=True, gold_answer="stop")
            for i in range(5)
        ]
    )
    services.publish_task_set(task_set_id=task_set.pk, actor=requester)
    funded = organization_balance(requester_org)
    assert funded < 50_00

    # Two workers answer every task; each task closes with agreement: approved, paid.
    abroad = qualify(
        WorkerProfileFactory(user__username="anna", country="GB", status="vetted").user
    )
    local = qualify(WorkerProfileFactory(user__username="dara", country="KH", status="vetted").user)
    for worker in (abroad, local):
        for _ in range(3):
            held = work.claim_next_task(worker=worker).assignment
            submit_committed(worker, held, "stop")
    assert (pending(abroad), pending(local)) == (15, 15)

    # The hold passes; destinations: Stripe Connect abroad, the centre at home.
    mature_earnings(now=timezone.now())
    assert (available(abroad), available(local)) == (15, 15)
    onboarded(fake_stripe, client, abroad)
    via_centre(local, centre, reference="SR-17", mobile="+85512345678")

    made = runs.run_all(trigger="test")

    lines = {line.worker_id: line for line in PayoutLine.objects.all()}
    assert set(lines) == {abroad.pk, local.pk}
    [transfer] = fake_stripe.objects("transfer")
    assert (transfer["amount"], transfer["destination"]) == (
        15,
        abroad.payout_destination.stripe_account_id,
    )
    assert lines[abroad.pk].status == "paid"
    assert lines[local.pk].rail == "partner_centre"  # waits for the centre's return file
    assert (available(abroad), available(local)) == (0, 0)
    assert len(made) == 2

    # A replayed webhook and a second run change nothing.
    entries = JournalEntry.objects.count()
    assert post_event(client, completed).status_code == 200
    runs.run_all(trigger="test")
    assert JournalEntry.objects.count() == entries
    assert PayoutLine.objects.count() == 2 and len(fake_stripe.objects("transfer")) == 1
    assert organization_balance(requester_org) == funded

    # Reconcile finds nothing to report (and exits 0).
    call_command("reconcile", verbosity=0)
