"""The staff home (issue 19 point 6): one page, reached from the header, that links
every staff tool; and staff messages and admin names that read correctly."""

import pytest
from django.contrib import admin
from django.urls import reverse

from payouts.models import PartnerBatch

pytestmark = pytest.mark.django_db

TOOLS = [
    "vetting_queue",
    "flag_queue",
    "appeal_queue",
    "staff_reports",
    "staff_credit",
    "staff_payout_runs",
    "admin:marketplace_auditlog_changelist",
    "admin:index",
]


def test_the_staff_home_links_every_staff_tool(client, admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    page = client.get(reverse("staff_home")).content.decode()
    for name in TOOLS:
        assert f'href="{reverse(name)}"' in page, name
        assert client.get(reverse(name)).status_code == 200, name


def test_every_page_header_leads_staff_to_their_home(client, admin_user):
    client.force_login(admin_user)
    assert (
        f'href="{reverse("staff_home")}"'
        in client.get(reverse("home"), follow=True).content.decode()
    )


def test_others_neither_see_nor_open_the_staff_home(client, requester, vetted_worker):
    for user in (requester, vetted_worker):
        client.force_login(user)
        assert client.get(reverse("staff_home")).status_code == 403
        page = client.get(reverse("home"), follow=True).content.decode()
        assert f'href="{reverse("staff_home")}"' not in page


def test_approving_a_cohort_of_one_says_one_worker(client, admin_user, centre, applicant):
    client.force_login(admin_user)
    response = client.post(
        reverse("vetting_approve_cohort"),
        {"centre": centre.pk, "reason": "Cohort trained in November"},
        follow=True,
    )
    page = response.content.decode()
    assert f"Approved 1 worker of {centre.name}." in page


def test_the_admin_names_partner_batches_correctly(client, admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    assert PartnerBatch._meta.verbose_name_plural == "partner batches"
    assert admin.site.is_registered(PartnerBatch)
    client.force_login(admin_user)
    assert "Partner batches" in client.get(reverse("admin:index")).content.decode()
