import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse

from marketplace import services
from marketplace.admin import AuditLogAdmin
from marketplace.models import AuditLog, Notification, WorkerProfile
from tests.concurrency import errors, race
from tests.factories import UserFactory, WorkerProfileFactory

pytestmark = pytest.mark.django_db


def test_application_creates_an_applied_profile_with_consent(client, django_user_model):
    user = django_user_model.objects.create_user("newbie", password="a-Strong-test-pass-42")
    client.force_login(user)
    response = client.post(
        reverse("worker_apply"),
        {
            "display_name": "New Bie",
            "country": "KH",
            "languages": ["km"],
            "eligibility": ["neet_youth", "rural_resident"],
            "consent": "on",
        },
    )
    assert response.status_code == 302
    profile = WorkerProfile.objects.get(user=user)
    assert profile.status == WorkerProfile.Status.APPLIED
    assert profile.eligibility == ["neet_youth", "rural_resident"]
    assert profile.consented_at is not None and profile.terms_version
    assert AuditLog.objects.filter(action="application.submit", target_id=str(profile.pk)).exists()


def test_application_without_consent_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user("newbie", password="a-Strong-test-pass-42")
    client.force_login(user)
    response = client.post(
        reverse("worker_apply"),
        {"display_name": "New Bie", "country": "KH", "languages": ["km"]},
    )
    assert response.status_code == 200
    assert "consent" in response.context["form"].errors
    assert not WorkerProfile.objects.filter(user=user).exists()


def test_application_rejects_unknown_eligibility_fact(client, django_user_model):
    user = django_user_model.objects.create_user("newbie", password="a-Strong-test-pass-42")
    client.force_login(user)
    response = client.post(
        reverse("worker_apply"),
        {
            "display_name": "X",
            "country": "KH",
            "languages": ["km"],
            "eligibility": ["rich"],
            "consent": "on",
        },
    )
    assert "eligibility" in response.context["form"].errors
    assert not WorkerProfile.objects.filter(user=user).exists()


APPLICATION = {
    "display_name": "New Bie",
    "country": "KH",
    "languages": ["km"],
    "eligibility": ["neet_youth"],
    "consent": "on",
}


@pytest.mark.django_db(transaction=True)
def test_two_racing_first_applications_leave_one_profile(django_user_model):
    user = django_user_model.objects.create_user("newbie", password="a-Strong-test-pass-42")
    application = services.ApplicationInput(
        display_name="New Bie",
        country="KH",
        languages=["km"],
        centre=None,
        eligibility=[],
        consent=True,
    )

    connected = threading.Barrier(4)

    def submit():
        # Connect first, so the submissions (not the connection set-ups) are what race.
        connection.ensure_connection()
        connected.wait()
        return services.submit_application(user=user, application=application)

    outcomes = race(*[submit] * 4)
    assert errors(outcomes) == []
    assert WorkerProfile.objects.filter(user=user).count() == 1
    assert AuditLog.objects.filter(action="application.submit").count() == 1


@pytest.mark.django_db(transaction=True)
def test_double_submitted_first_application_page_never_fails(django_user_model):
    from django.test import Client

    user = django_user_model.objects.create_user("newbie", password="a-Strong-test-pass-42")

    connected = threading.Barrier(3)

    def post():
        client = Client()
        client.force_login(user)
        connected.wait()
        return client.post(reverse("worker_apply"), APPLICATION).status_code

    assert race(post, post, post) == [302, 302, 302]
    assert WorkerProfile.objects.filter(user=user).count() == 1


def test_service_error_on_a_field_the_form_lacks_is_shown_not_a_500(client, settings):
    # terms_version is not a form field: the model's length check fails in the service.
    settings.TERMS_VERSION = "v" * 40
    user = UserFactory(username="newbie")
    client.force_login(user)
    response = client.post(reverse("worker_apply"), APPLICATION)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not WorkerProfile.objects.filter(user=user).exists()


def test_approve_sets_status_writes_audit_and_notifies(client, admin_user, applicant):
    client.force_login(admin_user)
    profile = applicant.worker_profile
    response = client.post(
        reverse("vetting_detail", args=[profile.pk]),
        {"action": "approve", "reason": "Eligibility confirmed by the centre"},
    )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.status == WorkerProfile.Status.VETTED
    assert profile.status_reason == "Eligibility confirmed by the centre"
    audit = AuditLog.objects.get(action="worker.approve")
    assert (audit.actor, audit.target_id, audit.reason) == (
        admin_user,
        str(profile.pk),
        "Eligibility confirmed by the centre",
    )
    assert audit.data == {"from": "applied", "to": "vetted"}
    assert Notification.objects.filter(user=applicant, subject__icontains="approved").exists()


def test_reject_requires_a_reason_and_changes_nothing_without_one(client, admin_user, applicant):
    client.force_login(admin_user)
    profile = applicant.worker_profile
    response = client.post(
        reverse("vetting_detail", args=[profile.pk]), {"action": "reject", "reason": "   "}
    )
    assert response.status_code == 400
    assert "reason" in response.context["form"].errors
    profile.refresh_from_db()
    assert profile.status == WorkerProfile.Status.APPLIED
    assert not AuditLog.objects.filter(action__startswith="worker.").exists()
    assert not Notification.objects.exists()


def test_rejected_worker_sees_status_and_reason(client, admin_user, applicant):
    services.decide_application(
        profile_id=applicant.worker_profile.pk,
        actor=admin_user,
        action="reject",
        reason="Could not confirm your centre enrolment",
    )
    client.force_login(applicant)
    page = client.get(reverse("worker_home")).content.decode()
    assert "Rejected" in page
    assert "Could not confirm your centre enrolment" in page


def test_service_requires_reason_even_when_called_directly(admin_user, applicant):
    with pytest.raises(ValidationError):
        services.decide_application(
            profile_id=applicant.worker_profile.pk, actor=admin_user, action="approve", reason=""
        )


def test_only_staff_may_decide(applicant, vetted_worker):
    with pytest.raises(PermissionDenied):
        services.decide_application(
            profile_id=applicant.worker_profile.pk,
            actor=vetted_worker,
            action="approve",
            reason="I like them",
        )


def test_suspend_only_from_vetted(admin_user, applicant, vetted_worker):
    with pytest.raises(ValidationError):
        services.decide_application(
            profile_id=applicant.worker_profile.pk, actor=admin_user, action="suspend", reason="x"
        )
    services.decide_application(
        profile_id=vetted_worker.worker_profile.pk,
        actor=admin_user,
        action="suspend",
        reason="Unusual activity under review",
    )
    vetted_worker.worker_profile.refresh_from_db()
    assert vetted_worker.worker_profile.status == WorkerProfile.Status.SUSPENDED


def test_bulk_approval_only_touches_the_centres_applied_workers(
    client, admin_user, centre, coordinator, applicant
):
    enrolled_by = coordinator
    second = WorkerProfileFactory(
        centre=centre, status=WorkerProfile.Status.APPLIED, enrolled_by=enrolled_by
    )
    invited = WorkerProfileFactory(
        centre=centre, status=WorkerProfile.Status.INVITED, enrolled_by=enrolled_by
    )
    elsewhere = WorkerProfileFactory(centre=None, status=WorkerProfile.Status.APPLIED)
    # Claimed the centre in a self-made application: not part of the cohort.
    claimant = WorkerProfileFactory(centre=centre, status=WorkerProfile.Status.APPLIED)
    client.force_login(admin_user)
    response = client.post(
        reverse("vetting_approve_cohort"),
        {"centre": centre.pk, "reason": "Cohort trained and assessed in November"},
    )
    assert response.status_code == 302
    statuses = dict(WorkerProfile.objects.values_list("pk", "status"))
    assert statuses[applicant.worker_profile.pk] == "vetted"
    assert statuses[second.pk] == "vetted"
    assert statuses[invited.pk] == "invited"
    assert statuses[elsewhere.pk] == "applied"
    assert statuses[claimant.pk] == "applied"
    assert AuditLog.objects.filter(action="worker.approve").count() == 2


def test_queue_filters_by_status_country_and_centre(client, admin_user, centre, applicant):
    WorkerProfileFactory(display_name="Kenyan Worker", country="KE", centre=None)
    client.force_login(admin_user)
    by_country = client.get(reverse("vetting_queue"), {"status": "applied", "country": "KE"})
    assert list(by_country.context["page"]) == [
        WorkerProfile.objects.get(display_name="Kenyan Worker")
    ]
    by_centre = client.get(reverse("vetting_queue"), {"centre": centre.pk})
    assert [p.user for p in by_centre.context["page"]] == [applicant]


def test_queue_pages_keep_the_default_applied_filter(client, admin_user, monkeypatch):
    monkeypatch.setattr("marketplace.views.VETTING_PAGE_SIZE", 2)
    for n in range(3):
        WorkerProfileFactory(display_name=f"Applied {n}")
        WorkerProfileFactory(display_name=f"Vetted {n}", status=WorkerProfile.Status.VETTED)
    client.force_login(admin_user)
    first = client.get(reverse("vetting_queue"))
    assert 'href="?status=applied&amp;page=2"' in first.content.decode()
    for query in ("?page=2", "?&page=2", "?status=applied&page=2"):
        second = client.get(reverse("vetting_queue") + query)
        assert [p.display_name for p in second.context["page"]] == ["Applied 2"], query
    everyone = client.get(reverse("vetting_queue"), {"status": ""})
    assert everyone.context["page"].paginator.count == 6


def test_audit_log_is_append_only_in_code_and_admin(admin_user, applicant, rf):
    services.decide_application(
        profile_id=applicant.worker_profile.pk, actor=admin_user, action="reject", reason="r"
    )
    entry = AuditLog.objects.get(action="worker.reject")
    entry.reason = "rewritten"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    with pytest.raises(ValidationError):
        AuditLog.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(ValidationError):
        AuditLog.objects.all().delete()
    request = rf.get("/")
    request.user = admin_user
    model_admin = AuditLogAdmin(AuditLog, None)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert not model_admin.has_add_permission(request)
    assert AuditLog.objects.get(pk=entry.pk).reason == "r"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigger exists on PostgreSQL only")
def test_postgres_trigger_refuses_raw_update(admin_user, applicant):
    from django.db import DatabaseError, transaction

    services.decide_application(
        profile_id=applicant.worker_profile.pk, actor=admin_user, action="reject", reason="r"
    )
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE marketplace_auditlog SET reason = 'x'")


@pytest.mark.django_db(transaction=True)
def test_worker_with_email_is_emailed_through_celery_after_commit(admin_user, centre):
    from django.core import mail

    profile = WorkerProfileFactory(user__username="mealea", user__email="mealea@example.org")
    services.decide_application(
        profile_id=profile.pk, actor=admin_user, action="approve", reason="Welcome"
    )
    assert [message.to for message in mail.outbox] == [["mealea@example.org"]]
    assert "Welcome" in mail.outbox[0].body


def test_enrolled_worker_cannot_move_to_another_centre(client, applicant, centre):
    from tests.factories import OrganizationFactory

    other = OrganizationFactory(name="Other Centre", kind="centre")
    client.force_login(applicant)
    client.post(
        reverse("worker_apply"),
        {
            "display_name": "Channary",
            "country": "KH",
            "languages": ["km"],
            "centre": other.pk,
            "consent": "on",
        },
    )
    applicant.worker_profile.refresh_from_db()
    assert applicant.worker_profile.centre == centre


def test_queue_marks_a_self_declared_centre(client, admin_user, centre):
    WorkerProfileFactory(display_name="Claimant", centre=centre)
    client.force_login(admin_user)
    page = client.get(reverse("vetting_queue")).content.decode()
    assert "self-declared" in page
