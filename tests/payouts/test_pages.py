"""The money pages: a worker sees only their own earnings, a requester only their
organization's billing and statement, a centre only its own payout files."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payouts import runs
from payouts.models import PartnerBatch, PayoutDestination, PayoutLine
from tests.factories import WorkerProfileFactory
from tests.payouts.helpers import paid, via_centre
from tests.work_helpers import published_set

pytestmark = pytest.mark.django_db
PARTNER = PayoutDestination.Rail.PARTNER_CENTRE


@pytest.fixture
def labels(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=10,
        gold=5,
        title="Street signs",
    )


@pytest.fixture
def paid_run(labels, centre, settings):
    settings.PAYOUT_MINIMUMS_MINOR = {PARTNER: {"USD": 10}}
    sokha = WorkerProfileFactory(user__username="sokha-money", centre=centre).user
    via_centre(sokha, centre)
    for _ in range(3):
        paid(labels, sokha, when=timezone.now() - timedelta(days=5))
    paid(labels, sokha)
    return sokha, runs.run_payouts(rail_name=PARTNER, currency="USD")


def test_a_worker_sees_their_own_earnings(client, paid_run, centre, labels):
    sokha, _run = paid_run
    for _ in range(7):
        paid(labels, WorkerProfileFactory().user)  # someone else's: 0.35 USD nowhere here
    client.force_login(sokha)
    page = client.get(reverse("worker_earnings")).content.decode()
    assert "0.05 USD" in page  # pending (approved just now)
    assert "0.15 USD" in page  # on the way
    assert "Street signs" in page and centre.name in page
    assert 'id="payout-method"' in page and "0.35 USD" not in page


def test_another_worker_sees_none_of_it(client, paid_run):
    client.force_login(WorkerProfileFactory().user)
    page = client.get(reverse("worker_earnings")).content.decode()
    assert "Street signs" not in page and "No earnings yet" in page


def test_the_earnings_page_is_for_workers_only(client, requester):
    client.force_login(requester)
    assert client.get(reverse("worker_earnings")).status_code == 403


def test_a_requester_sees_their_billing_and_downloads_a_statement(client, requester, paid_run):
    client.force_login(requester)
    page = client.get(reverse("requester_billing")).content.decode()
    assert "Acme Labels" in page and "0.20 USD" in page  # paid to workers: 4 x 5 cents
    response = client.get(reverse("requester_statement_csv", args=["acme-labels"]))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response).decode())))
    kinds = {row["kind"] for row in rows}
    assert {"funding.manual", "escrow.fund", "earning.pay"} <= kinds
    assert sum(int(row["amount_minor"]) for row in rows if row["kind"] == "earning.pay") == -24
    # Debits keep their sign apart from the digits: -6 cents is -0.06, not -1.94.
    assert {row["amount"] for row in rows if row["kind"] == "earning.pay"} == {"-0.06"}
    assert {row["amount"] for row in rows if row["kind"] == "escrow.fund"} == {"-2.04", "2.04"}


def test_another_organization_cannot_read_the_statement(client, outsider, paid_run, requester_org):
    client.force_login(outsider)
    page = client.get(reverse("requester_billing")).content.decode()
    assert "Acme Labels" not in page
    response = client.get(reverse("requester_statement_csv", args=[requester_org.slug]))
    assert response.status_code == 404


def test_the_centre_downloads_its_files_and_imports_a_return(client, coordinator, paid_run, centre):
    _sokha, run = paid_run
    batch = PartnerBatch.objects.get(run=run)
    client.force_login(coordinator)
    assert client.get(reverse("centre_payouts", args=[centre.slug])).status_code == 200
    url = reverse("centre_payout_file", args=[centre.slug, batch.pk, "csv"])
    assert b"line_id" in b"".join(client.get(url).streaming_content)
    line = PayoutLine.objects.get(run=run)
    upload = io.BytesIO(f"line_id,status,reference\n{line.pk},paid,cash\n".encode())
    upload.name = "return.csv"
    response = client.post(
        reverse("centre_payouts", args=[centre.slug]), {"batch": batch.pk, "return_file": upload}
    )
    assert response.status_code == 302
    line.refresh_from_db()
    assert line.status == "paid"


def test_a_bad_return_upload_shows_the_row_and_changes_nothing(
    client, coordinator, paid_run, centre
):
    _sokha, run = paid_run
    batch = PartnerBatch.objects.get(run=run)
    client.force_login(coordinator)
    upload = io.BytesIO(b"line_id,status,reference\n12345678,paid,x\n")
    upload.name = "return.csv"
    response = client.post(
        reverse("centre_payouts", args=[centre.slug]), {"batch": batch.pk, "return_file": upload}
    )
    assert response.status_code == 400
    assert "Line 2, line_id" in response.content.decode()
    assert PayoutLine.objects.get(run=run).status == "sent"


def test_others_cannot_see_a_centres_payout_files(client, paid_run, centre, vetted_worker):
    _sokha, run = paid_run
    batch = PartnerBatch.objects.get(run=run)
    client.force_login(vetted_worker)
    assert client.get(reverse("centre_payouts", args=[centre.slug])).status_code == 403
    url = reverse("centre_payout_file", args=[centre.slug, batch.pk, "manifest"])
    assert client.get(url).status_code == 403
