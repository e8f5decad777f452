import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PROTECTED = [
    ("worker_home", []),
    ("worker_apply", []),
    ("requester_home", []),
    ("vetting_queue", []),
]


@pytest.mark.parametrize(("name", "args"), PROTECTED)
def test_anonymous_users_are_sent_to_login(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_anonymous_centre_page_redirects_to_login(client, centre):
    response = client.get(reverse("centre_home", args=[centre.slug]))
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))


@pytest.mark.parametrize("name", ["requester_home", "vetting_queue"])
def test_worker_cannot_reach_requester_or_admin_pages(client, vetted_worker, name):
    client.force_login(vetted_worker)
    assert client.get(reverse(name)).status_code == 403


def test_worker_cannot_decide_or_bulk_approve(client, vetted_worker, applicant, centre):
    client.force_login(vetted_worker)
    profile = applicant.worker_profile
    assert (
        client.post(
            reverse("vetting_detail", args=[profile.pk]), {"action": "approve", "reason": "x"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("vetting_approve_cohort"), {"centre": centre.pk, "reason": "x"}
        ).status_code
        == 403
    )
    profile.refresh_from_db()
    assert profile.status == "applied"


def test_worker_cannot_open_django_admin(client, vetted_worker):
    client.force_login(vetted_worker)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_requester_cannot_reach_vetting_or_centre(client, requester, centre):
    client.force_login(requester)
    assert client.get(reverse("vetting_queue")).status_code == 403
    assert client.get(reverse("centre_home", args=[centre.slug])).status_code == 403


def test_outsider_sees_nothing_of_another_organization(client, requester, outsider):
    client.force_login(outsider)
    page = client.get(reverse("requester_home")).content.decode()
    assert "Other Corp" in page
    assert "Acme Labels" not in page and "rita" not in page


def test_coordinator_sees_only_their_cohort(client, coordinator, centre, applicant):
    from tests.factories import OrganizationFactory, WorkerProfileFactory

    other = OrganizationFactory(name="Far Centre", kind="centre")
    WorkerProfileFactory(user__username="stranger", centre=other)
    client.force_login(coordinator)
    page = client.get(reverse("centre_home", args=[centre.slug])).content.decode()
    assert "channary" in page and "stranger" not in page


def test_coordinator_does_not_see_self_declared_workers_or_their_reasons(
    client, admin_user, coordinator, centre, applicant
):
    from marketplace import services
    from tests.factories import WorkerProfileFactory

    claimant = WorkerProfileFactory(
        user__username="claimant", display_name="Self Declared", centre=centre
    )
    services.decide_application(
        profile_id=claimant.pk, actor=admin_user, action="reject", reason="Forged documents"
    )
    services.decide_application(
        profile_id=applicant.worker_profile.pk,
        actor=admin_user,
        action="reject",
        reason="Incomplete answers",
    )
    client.force_login(coordinator)
    response = client.get(reverse("centre_home", args=[centre.slug]))
    page = response.content.decode()
    assert "channary" in page and "Incomplete answers" in page
    assert "claimant" not in page and "Self Declared" not in page
    assert "Forged documents" not in page
    assert response.context["counts"] == {"rejected": 1}
    # Nor can the coordinator act on a self-declared worker.
    reissue = reverse("centre_reissue_code", args=[centre.slug, claimant.pk])
    assert client.post(reissue).status_code == 404
