"""A payout run started from the staff pages (issue 19 point 6): confirmed, audited,
superusers only, and refused while another run is under way."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.models import AuditLog
from payouts.models import PayoutDestination, PayoutLine, PayoutRun
from tests.factories import WorkerProfileFactory
from tests.payouts.helpers import available, paid, via_centre
from tests.work_helpers import published_set

PARTNER = PayoutDestination.Rail.PARTNER_CENTRE
pytestmark = pytest.mark.django_db


@pytest.fixture
def owed(settings, requester_org, requester, admin_user, centre):
    """A worker owed 20 cents, paid through their centre (the only rail with a minimum)."""
    settings.PAYOUT_MINIMUMS_MINOR = {PARTNER: {"USD": 10}}
    task_set = published_set(organization=requester_org, requester=requester, admin=admin_user)
    worker = WorkerProfileFactory().user
    via_centre(worker, centre, mobile="+85512345678")
    for _ in range(4):
        paid(task_set, worker, when=timezone.now() - timedelta(days=30))
    return worker


def start(client, **data):
    return client.post(reverse("staff_payout_runs"), data, follow=True)


def test_a_superuser_starts_the_first_run_from_the_staff_page(client, admin_user, owed):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    page = client.get(reverse("staff_payout_runs")).content.decode()
    assert "No payout run yet." in page and "Start payout run" in page

    page = start(client, confirm="yes").content.decode()

    run = PayoutRun.objects.get()
    assert (run.trigger, run.created_by, run.line_count, run.total_minor) == (
        "staff",
        admin_user,
        1,
        20,
    )
    assert PayoutLine.objects.get().worker == owed and available(owed) == 0
    assert f"Run {run.pk} (partner_centre, USD): 1 line, 0.20 USD." in page
    audit = AuditLog.objects.get(action="payout_run.start")
    assert (audit.actor, audit.target_id, audit.data["total_minor"]) == (
        admin_user,
        str(run.pk),
        20,
    )


def test_nothing_runs_without_the_confirmation(client, admin_user, owed):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    assert "Tick the box to confirm the run." in start(client).content.decode()
    assert not PayoutRun.objects.exists() and not PayoutLine.objects.exists()


def test_a_second_run_is_refused_while_one_is_under_way(client, admin_user, owed):
    admin_user.is_superuser = True
    admin_user.save()
    PayoutRun.objects.create(rail=PARTNER, currency="USD", status=PayoutRun.Status.SENDING)
    client.force_login(admin_user)
    page = start(client, confirm="yes").content.decode()
    assert "A payout run is under way." in page
    assert PayoutRun.objects.count() == 1 and not PayoutLine.objects.exists()
    assert not AuditLog.objects.filter(action="payout_run.start").exists()


def test_staff_who_are_not_superusers_cannot_start_a_run(client, admin_user, owed):
    admin_user.is_superuser = False
    admin_user.save()
    client.force_login(admin_user)
    assert "Only superusers start payout runs." in start(client, confirm="yes").content.decode()
    assert not PayoutRun.objects.exists()


def test_others_cannot_open_the_page(client, requester):
    client.force_login(requester)
    assert client.get(reverse("staff_payout_runs")).status_code == 403
    assert client.post(reverse("staff_payout_runs"), {"confirm": "yes"}).status_code == 403
