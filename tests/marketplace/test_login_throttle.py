"""Failed sign-ins are throttled per (login, address) pair with growing delays, so one
person's bad minute at a centre does not lock out the cohort sharing its address, and
nobody elsewhere can lock a worker out; coordinators and staff can unlock a worker."""

import re

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from marketplace import login_throttle, services
from marketplace.models import AuditLog, Membership, Organization, WorkerProfile
from tests.concurrency import race
from tests.conftest import PASSWORD
from tests.factories import OrganizationFactory, UserFactory, WorkerProfileFactory

pytestmark = pytest.mark.django_db

CENTRE_ADDRESS = "203.0.113.7"
ELSEWHERE = "198.51.100.9"


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = 1_800_000_000.0

        def advance(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(login_throttle, "_now", lambda: clock.now)
    return clock


def sign_in(client, login: str, password: str, address: str = CENTRE_ADDRESS):
    client.logout()
    return client.post(
        reverse("account_login"), {"login": login, "password": password}, REMOTE_ADDR=address
    )


def fail(client, login: str, times: int, address: str = CENTRE_ADDRESS) -> list[str]:
    return [page_text(sign_in(client, login, "wrong", address)) for _ in range(times)]


def page_text(response) -> str:
    return response.content.decode()


def throttled(response) -> bool:
    return response.status_code == 200 and "Too many failed sign-ins" in page_text(response)


@pytest.fixture
def dara(centre, coordinator):
    """A second worker enrolled by the same centre, signing in from the same address."""
    return WorkerProfileFactory(user__username="dara", centre=centre, enrolled_by=coordinator).user


def test_one_workers_wrong_passwords_leave_the_cohort_and_other_places_alone(
    client, clock, applicant, dara
):
    fail(client, "channary", 5)
    assert throttled(sign_in(client, "channary", PASSWORD))
    # Another worker at the same centre address signs in...
    assert sign_in(client, "dara", PASSWORD).status_code == 302
    # ...and so does channary herself from another address.
    assert sign_in(client, "channary", PASSWORD, address=ELSEWHERE).status_code == 302


def test_the_delay_grows_and_the_page_says_how_long(client, clock, applicant):
    pages = fail(client, "channary", 3)
    assert not any("Too many" in page for page in pages)  # three free mistakes
    assert "Please wait 8 seconds" in page_text(sign_in(client, "channary", "wrong"))
    clock.advance(8)
    assert "Please wait 16 seconds" in fail(client, "channary", 2)[1]
    clock.advance(16)
    assert "Please wait 32 seconds" in fail(client, "channary", 2)[1]
    clock.advance(31)
    assert "Please wait 1 second" in page_text(sign_in(client, "channary", "wrong"))


def test_refused_attempts_do_not_lengthen_the_wait(client, clock, applicant):
    fail(client, "channary", 3)
    for _ in range(5):
        clock.advance(1)
        assert throttled(sign_in(client, "channary", "wrong"))
    clock.advance(3)  # 8 seconds after the third failure
    assert sign_in(client, "channary", PASSWORD).status_code == 302


def test_the_delay_is_capped_in_minutes(client, clock, applicant, settings):
    assert settings.LOGIN_MAX_DELAY_SECONDS == 15 * 60
    for failures in range(1, 11):  # ten failures, each wait sat out (2**10 s > the cap)
        login_throttle.failed(login_throttle.begin(login="channary", address=CENTRE_ADDRESS))
        clock.advance(login_throttle.delay_after(failures))
    assert "Please wait 15 minutes" in fail(client, "channary", 2)[1]
    clock.advance(15 * 60)
    assert sign_in(client, "channary", PASSWORD).status_code == 302


def test_after_the_delay_the_right_password_works_and_starts_the_count_afresh(
    client, clock, applicant
):
    fail(client, "channary", 3)
    assert throttled(sign_in(client, "channary", PASSWORD))
    clock.advance(8)
    assert sign_in(client, "channary", PASSWORD).status_code == 302
    # Success cleared the pair: three more free mistakes before any wait.
    pages = fail(client, "channary", 3)
    assert not any("Too many" in page for page in pages)
    assert throttled(sign_in(client, "channary", PASSWORD))


def test_one_address_trying_many_usernames_meets_the_address_ceiling(client, clock, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 4
    settings.LOGIN_ADDRESS_WINDOW_SECONDS = 900
    for n in range(4):
        fail(client, f"someone{n}", 1)
    page = page_text(sign_in(client, "someone-else", "wrong"))
    assert "Too many failed sign-ins from this network. Please wait 15 minutes" in page
    # Another address is not affected; this one is free again in the next window.
    UserFactory(username="vanna")
    assert sign_in(client, "vanna", PASSWORD, address=ELSEWHERE).status_code == 302
    clock.advance(900)
    assert sign_in(client, "vanna", PASSWORD).status_code == 302


def test_default_ceiling_holds_a_centre_of_a_hundred_each_mistyping_three_times(
    client, clock, settings
):
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT >= 400
    assert settings.ACCOUNT_RATE_LIMITS["login"] == "200/m/ip"
    address = login_throttle.normalise_address(CENTRE_ADDRESS)
    for n in range(100):
        for _ in range(3):
            login_throttle.failed(login_throttle.begin(login=f"worker{n}", address=address))
    login_throttle.begin(login="worker100", address=address)  # not refused


def test_racing_attempts_get_only_the_free_ones_then_one_at_a_time(clock):
    # Attempts begun and not yet reported, as a script firing many at once would.
    address = "192.0.2.1"
    begun = [login_throttle.begin(login="Channary", address=address) for _ in range(3)]
    with pytest.raises(login_throttle.LoginThrottled):
        login_throttle.begin(login="channary", address=address)
    for attempt in begun:
        login_throttle.failed(attempt)
    clock.advance(8)
    login_throttle.begin(login="channary", address=address)
    with pytest.raises(login_throttle.LoginThrottled):
        login_throttle.begin(login="channary", address=address)


@pytest.mark.django_db(transaction=True)
def test_many_attempts_at_once_on_a_delayed_pair_admit_exactly_one(clock):
    address = "192.0.2.2"
    for _ in range(3):
        login_throttle.failed(login_throttle.begin(login="channary", address=address))
    clock.advance(8)
    outcomes = race(
        *[lambda: login_throttle.begin(login="channary", address=address) for _ in range(12)]
    )
    admitted = [o for o in outcomes if isinstance(o, login_throttle.Attempt)]
    assert len(admitted) == 1
    assert all(isinstance(o, login_throttle.LoginThrottled) for o in outcomes if o not in admitted)


def test_ipv6_clients_are_counted_per_slash_64():
    assert login_throttle.normalise_address("2001:db8:1:2::5") == "2001:db8:1:2::"
    assert login_throttle.normalise_address("2001:db8:1:2:ffff::1") == "2001:db8:1:2::"


def throttle_everywhere(client, login: str) -> None:
    for address in (CENTRE_ADDRESS, ELSEWHERE):
        fail(client, login, 3, address=address)
        assert throttled(sign_in(client, login, PASSWORD, address=address))


def test_coordinator_unlocks_their_worker_at_every_address_and_it_is_audited(
    client, clock, centre, coordinator, applicant, django_capture_on_commit_callbacks
):
    throttle_everywhere(client, "channary")
    profile = applicant.worker_profile
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("centre_unlock_sign_in", args=[centre.slug, profile.pk]))
    assert response.status_code == 302
    assert response.url == reverse("centre_home", args=[centre.slug])
    entry = AuditLog.objects.get(action="worker.unlock_sign_in")
    assert entry.actor == coordinator and entry.target_id == str(profile.pk)
    assert entry.target_type == "marketplace.workerprofile"
    assert sign_in(client, "channary", PASSWORD, address=ELSEWHERE).status_code == 302
    assert sign_in(client, "channary", PASSWORD).status_code == 302


def test_the_centre_page_offers_the_unlock(client, centre, coordinator, applicant):
    client.force_login(coordinator)
    url = reverse("centre_unlock_sign_in", args=[centre.slug, applicant.worker_profile.pk])
    assert url in page_text(client.get(reverse("centre_home", args=[centre.slug])))


def test_coordinator_cannot_unlock_another_centres_or_a_self_declared_worker(
    client, clock, centre, coordinator, vetted_worker
):
    other_centre = OrganizationFactory(name="Battambang Centre", kind=Organization.Kind.CENTRE)
    other_coordinator = UserFactory(username="sophea")
    Membership.objects.create(
        user=other_coordinator, organization=other_centre, role=Membership.Role.COORDINATOR
    )
    stranger = WorkerProfileFactory(
        user__username="bopha", centre=other_centre, enrolled_by=other_coordinator
    )
    fail(client, "bopha", 4)
    client.force_login(coordinator)
    for profile in (stranger, vetted_worker.worker_profile):  # sokha only named the centre
        # Through their own centre's page (not in its cohort), through the other centre's
        # page (not its coordinator), and through the service itself.
        assert (
            client.post(
                reverse("centre_unlock_sign_in", args=[centre.slug, profile.pk])
            ).status_code
            == 404
        )
        with pytest.raises(PermissionDenied):
            services.unlock_sign_in(profile=profile, actor=coordinator)
    assert (
        client.post(
            reverse("centre_unlock_sign_in", args=[other_centre.slug, stranger.pk])
        ).status_code
        == 403
    )
    assert client.post(reverse("vetting_unlock_sign_in", args=[stranger.pk])).status_code == 403
    assert not AuditLog.objects.filter(action="worker.unlock_sign_in").exists()
    assert throttled(sign_in(client, "bopha", PASSWORD))


def test_staff_unlock_a_worker_from_the_vetting_page(
    client, clock, admin_user, applicant, django_capture_on_commit_callbacks
):
    throttle_everywhere(client, "channary")
    profile = applicant.worker_profile
    client.force_login(admin_user)
    detail = reverse("vetting_detail", args=[profile.pk])
    unlock = reverse("vetting_unlock_sign_in", args=[profile.pk])
    assert unlock in page_text(client.get(detail))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(unlock)
    assert response.status_code == 302 and response.url == detail
    assert "worker.unlock_sign_in" in page_text(client.get(detail))  # the page's history
    assert AuditLog.objects.get(action="worker.unlock_sign_in").actor == admin_user
    for address in (CENTRE_ADDRESS, ELSEWHERE):
        assert sign_in(client, "channary", PASSWORD, address=address).status_code == 302


def test_unlock_by_email_address_too(client, clock, admin_user, django_capture_on_commit_callbacks):
    profile = WorkerProfileFactory(user__username="rotha", user__email="rotha@example.org")
    fail(client, "rotha@example.org", 4)
    assert throttled(sign_in(client, "rotha@example.org", PASSWORD))
    with django_capture_on_commit_callbacks(execute=True):
        services.unlock_sign_in(profile=profile, actor=admin_user)
    assert sign_in(client, "rotha@example.org", PASSWORD).status_code == 302


def test_unlock_also_clears_set_up_code_guesses(
    client, centre, coordinator, django_capture_on_commit_callbacks
):
    invited = WorkerProfileFactory(
        user__username="kanha",
        centre=centre,
        enrolled_by=coordinator,
        status=WorkerProfile.Status.INVITED,
    )
    wrong = {"username": "kanha", "code": "AAAA-AAAA", "password1": PASSWORD}
    wrong["password2"] = PASSWORD
    statuses = [
        client.post(reverse("setup_account"), wrong, REMOTE_ADDR=f"10.0.0.{n}").status_code
        for n in range(11)
    ]
    assert statuses[-1] == 429
    with django_capture_on_commit_callbacks(execute=True):
        services.unlock_sign_in(profile=invited, actor=coordinator)
    assert client.post(reverse("setup_account"), wrong).status_code == 400


def test_a_password_reset_clears_the_counts(client, clock, requester):
    # allauth cleared its own counts after a reset (it proves the address's owner);
    # with allauth's limit replaced, ours must be cleared there too.
    fail(client, "rita", 4)
    assert throttled(sign_in(client, "rita", PASSWORD))
    client.post(reverse("account_reset_password"), {"email": "rita@acme.example"})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", mail.outbox[-1].body)
    form_url = client.get(link.group(1)).url
    new_password = "another-Strong-pass-99"
    client.post(form_url, {"password1": new_password, "password2": new_password})
    assert sign_in(client, "rita", new_password).status_code == 302


def test_the_admin_login_form_is_no_way_around_the_throttle(client, admin_user):
    page = client.get("/admin/login/?next=/admin/")
    assert page.status_code == 302 and page.url.startswith(reverse("account_login"))
    guess = client.post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert guess.status_code == 302 and "_auth_user_id" not in client.session
