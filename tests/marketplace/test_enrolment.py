import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from marketplace import services
from marketplace.enrolment import EnrolmentError, parse_enrolment_csv
from marketplace.models import SetupCode, User, WorkerProfile
from tests.concurrency import race
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

GOOD_CSV = (
    "name,username,phone,language\n"
    "Sokha Chan,sokha.chan,+855 12 345 678,km\n"
    "Dara Pich,dara.pich,,km\n"
    "Vibol Sok,vibol,+85510999888,en\n"
)


def upload(client, centre, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        reverse("centre_enrol", args=[centre.slug]),
        {"file": SimpleUploadedFile("cohort.csv", data, content_type="text/csv")},
    )


def test_coordinator_enrols_a_cohort_with_one_time_codes(client, coordinator, centre):
    client.force_login(coordinator)
    response = upload(client, centre, GOOD_CSV)
    assert response.status_code == 200
    issued = response.context["issued"]
    assert [item.user.username for item in issued] == ["sokha.chan", "dara.pich", "vibol"]
    page = response.content.decode()
    for item in issued:
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", item.code)
        assert item.code in page
    sokha = User.objects.get(username="sokha.chan")
    assert sokha.phone == "+85512345678"
    assert not sokha.has_usable_password()
    profile = sokha.worker_profile
    assert (profile.status, profile.centre, profile.languages) == ("invited", centre, ["km"])
    # Only hashes are stored.
    stored = SetupCode.objects.get(user=sokha)
    assert issued[0].code.replace("-", "") not in (stored.code_hash, stored.token_hash)


def test_malformed_csv_names_each_bad_line_and_creates_nobody(client, coordinator, centre):
    UserFactory(username="Taken")
    bad = (
        "name,username,phone,language\n"
        "Sokha Chan,sokha,+855 12 345 678,km\n"  # line 2: fine
        ",nobody,,km\n"  # line 3: no name
        "Dara Pich,SOKHA,,km\n"  # line 4: duplicate of line 2 (case-insensitive)
        "Vibol Sok,vibol,call me,xx\n"  # line 5: bad phone and language
        "Someone,taken,,en\n"  # line 6: username exists
        "Bad Name,has space,,en\n"  # line 7: invalid username
    )
    client.force_login(coordinator)
    users_before = User.objects.count()
    response = upload(client, centre, bad)
    assert response.status_code == 400
    found = {(e.line, e.field) for e in response.context["enrolment_errors"].errors}
    assert found == {
        (3, "name"),
        (4, "username"),
        (5, "phone"),
        (5, "language"),
        (6, "username"),
        (7, "username"),
    }
    page = response.content.decode()
    assert "nobody was enrolled" in page
    assert "already appears on line 2" in page
    assert User.objects.count() == users_before
    assert not WorkerProfile.objects.exists()
    assert not SetupCode.objects.exists()


def test_missing_header_column_is_reported_on_line_one():
    with pytest.raises(EnrolmentError) as caught:
        parse_enrolment_csv(b"name,username,language\nA,a,km\n")
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "phone")]


def test_non_utf8_file_names_the_line():
    with pytest.raises(EnrolmentError) as caught:
        parse_enrolment_csv(b"name,username,phone,language\nA,a,,km\n\xff\xfe,b,,km\n")
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, "file")]


def test_nul_character_is_a_row_error_naming_the_line(client, coordinator, centre):
    client.force_login(coordinator)
    response = upload(client, centre, "name,username,phone,language\nA,a,,km\nB\x00,b,,km\n")
    assert response.status_code == 400
    errors = response.context["enrolment_errors"].errors
    assert [(e.line, e.field) for e in errors] == [(3, "file")]
    assert "NUL character" in errors[0].message
    assert not User.objects.filter(username__in=["a", "b"]).exists()


def test_unreadable_csv_line_is_a_row_error_not_a_500(client, coordinator, centre):
    huge = "x" * 200_000  # over the csv module's field size limit
    client.force_login(coordinator)
    response = upload(client, centre, f'name,username,phone,language\nA,a,,km\n"{huge}",b,,km\n')
    assert response.status_code == 400
    errors = response.context["enrolment_errors"].errors
    assert [(e.line, e.field) for e in errors] == [(3, "file")]
    assert "cannot be read as CSV" in errors[0].message
    assert not User.objects.filter(username__in=["a", "b"]).exists()


def test_row_limit_is_a_setting(settings):
    settings.ENROLMENT_MAX_ROWS = 2
    with pytest.raises(EnrolmentError) as caught:
        parse_enrolment_csv(GOOD_CSV.encode())
    assert caught.value.errors[0].field == "file"
    assert caught.value.errors[0].line == 4


def test_error_report_lists_at_most_100_of_many():
    rows = "".join(f"Name {i},user{i},,zz\n" for i in range(150))
    with pytest.raises(EnrolmentError) as caught:
        parse_enrolment_csv(("name,username,phone,language\n" + rows).encode())
    assert caught.value.total == 150
    assert len(caught.value.errors) == 100


def test_coordinator_of_another_centre_is_refused(client, coordinator):
    other_centre = OrganizationFactory(name="Other Centre", kind="centre")
    client.force_login(coordinator)
    assert client.get(reverse("centre_home", args=[other_centre.slug])).status_code == 403
    assert upload(client, other_centre, GOOD_CSV).status_code == 403
    assert not User.objects.filter(username="vibol").exists()


def _enrol_one(coordinator, centre) -> services.IssuedSetupCode:
    from marketplace.enrolment import enrol_cohort

    return enrol_cohort(
        centre=centre,
        coordinator=coordinator,
        data=b"name,username,phone,language\nDara Pich,dara,,km\n",
    )[0]


def test_worker_redeems_code_sets_password_and_is_logged_in(client, coordinator, centre):
    issued = _enrol_one(coordinator, centre)
    response = client.post(
        reverse("setup_account"),
        {
            "username": "DARA",
            "code": issued.code.lower().replace("-", " "),
            "password1": "my-new-Pass-77",
            "password2": "my-new-Pass-77",
        },
    )
    assert response.status_code == 302 and response.url == reverse("worker_apply")
    assert client.get(reverse("worker_apply")).status_code == 200
    assert User.objects.get(username="dara").check_password("my-new-Pass-77")
    # The code is single use.
    client.logout()
    again = client.post(
        reverse("setup_account"),
        {
            "username": "dara",
            "code": issued.code,
            "password1": "x-Other-pass-88",
            "password2": "x-Other-pass-88",
        },
    )
    assert again.status_code == 400
    assert User.objects.get(username="dara").check_password("my-new-Pass-77")


def test_worker_redeems_link(client, coordinator, centre):
    issued = _enrol_one(coordinator, centre)
    url = reverse("setup_account_link", args=[issued.token])
    assert client.get(url).status_code == 200
    response = client.post(url, {"password1": "my-new-Pass-77", "password2": "my-new-Pass-77"})
    assert response.status_code == 302
    assert client.get(url).status_code == 404  # used


def test_reissued_code_replaces_the_old_one(client, coordinator, centre):
    first = _enrol_one(coordinator, centre)
    client.force_login(coordinator)
    profile = WorkerProfile.objects.get(user__username="dara")
    response = client.post(reverse("centre_reissue_code", args=[centre.slug, profile.pk]))
    second = response.context["issued"][0]
    assert services.find_setup_code(username="dara", code=first.code) is None
    assert services.find_setup_code(username="dara", code=second.code) is not None


def test_wrong_codes_are_rate_limited(client, coordinator, centre, settings):
    _enrol_one(coordinator, centre)
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "setup_code": "3/h/ip"}
    form = {
        "username": "dara",
        "code": "AAAA-AAAA",
        "password1": "my-new-Pass-77",
        "password2": "my-new-Pass-77",
    }
    statuses = [client.post(reverse("setup_account"), form).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def wrong_code(username: str) -> dict:
    return {
        "username": username,
        "code": "AAAA-AAAA",
        "password1": "my-new-Pass-77",
        "password2": "my-new-Pass-77",
    }


def test_a_cohort_sharing_one_address_is_not_blocked(client):
    # 30 workers of one centre, one shared address, each mistyping once.
    statuses = {
        client.post(reverse("setup_account"), wrong_code(f"worker{n}")).status_code
        for n in range(30)
    }
    assert statuses == {400}


def test_guesses_for_one_username_are_limited_whatever_the_address(client):
    statuses = [
        client.post(
            reverse("setup_account"), wrong_code("Dara"), REMOTE_ADDR=f"10.0.0.{n}"
        ).status_code
        for n in range(11)
    ]
    assert statuses == [400] * 10 + [429]
    # Another spelling of the same username counts against the same limit.
    assert client.post(reverse("setup_account"), wrong_code("dara")).status_code == 429


def test_client_address_comes_from_the_trusted_proxy(client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "setup_code": "2/h/ip"}

    def attempt(address: str, username: str) -> int:
        return client.post(
            reverse("setup_account"), wrong_code(username), HTTP_X_FORWARDED_FOR=address
        ).status_code

    assert [attempt("203.0.113.1", "a"), attempt("203.0.113.1", "b")] == [400, 400]
    assert attempt("203.0.113.2", "c") == 400  # another client behind the same proxy
    assert attempt("203.0.113.1", "d") == 429


@pytest.mark.django_db(transaction=True)
def test_two_racing_reissues_leave_exactly_one_valid_code(coordinator, centre):
    import threading

    from django.db import connection

    _enrol_one(coordinator, centre)
    user = User.objects.get(username="dara")
    connected = threading.Barrier(4)

    def reissue():
        connection.ensure_connection()
        connected.wait()
        return services.issue_setup_code(user=user, created_by=coordinator)

    outcomes = race(*[reissue] * 4)
    assert all(isinstance(outcome, services.IssuedSetupCode) for outcome in outcomes)
    live = SetupCode.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True)
    assert live.count() == 1
    assert (
        sum(services.find_setup_code(username="dara", code=o.code) is not None for o in outcomes)
        == 1
    )


@pytest.mark.django_db(transaction=True)
def test_two_racing_redemptions_of_one_code_let_exactly_one_win(coordinator, centre):
    issued = _enrol_one(coordinator, centre)
    setup_code = services.find_setup_code(token=issued.token)
    outcomes = race(
        lambda: services.redeem_setup_code(setup_code=setup_code, password="Pass-one-111"),
        lambda: services.redeem_setup_code(setup_code=setup_code, password="Pass-two-222"),
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["User", "ValidationError"]
    assert SetupCode.objects.filter(used_at__isnull=False).count() == 1


def test_oversized_file_is_refused_whole(client, coordinator, centre, settings):
    settings.ENROLMENT_MAX_BYTES = 60
    client.force_login(coordinator)
    response = upload(client, centre, GOOD_CSV)
    assert response.status_code == 400
    assert response.context["enrolment_errors"].errors[0].field == "file"
    assert not User.objects.filter(username="vibol").exists()
