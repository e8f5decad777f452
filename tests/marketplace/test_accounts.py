import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from marketplace.models import Membership, Organization, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def signup(client, **fields):
    data = {
        "username": "rita",
        "email": "rita@acme.example",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "account_type": "requester",
        "organization_name": "Acme Labels",
    }
    data.update(fields)
    return client.post(reverse("account_signup"), data)


def confirmation_link() -> str:
    body = mail.outbox[-1].body
    return re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", body).group(1)


def test_requester_signup_creates_org_and_requires_verified_email(client):
    response = signup(client)
    assert response.status_code == 302
    user = User.objects.get(username="rita")
    org = Organization.objects.get(name="Acme Labels")
    assert org.kind == Organization.Kind.REQUESTER
    assert Membership.objects.filter(user=user, organization=org, role="admin").exists()
    # Not verified yet: requester pages send the user to the email page.
    gated = client.get(reverse("requester_home"))
    assert gated.status_code == 302 and gated.url == reverse("account_email")
    assert mail.outbox and mail.outbox[-1].to == ["rita@acme.example"]
    link = confirmation_link()
    assert client.post(link).status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    page = client.get(reverse("requester_home"))
    assert page.status_code == 200 and "Acme Labels" in page.content.decode()


def test_requester_must_give_email_and_organization(client):
    response = signup(client, email="", organization_name="")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "email" in errors and "organization_name" in errors
    assert not User.objects.filter(username="rita").exists()


def test_worker_signs_up_without_email_and_is_sent_to_the_application(client):
    response = signup(
        client, username="sokha", email="", account_type="worker", organization_name=""
    )
    assert response.status_code == 302 and response.url == reverse("worker_apply")
    user = User.objects.get(username="sokha")
    assert user.email == "" and not user.memberships.exists()
    assert client.get(reverse("worker_apply")).status_code == 200


@pytest.mark.parametrize("login", ["rita", "rita@acme.example", "RITA@acme.example"])
def test_login_by_username_or_email(client, requester, login):
    response = client.post(reverse("account_login"), {"login": login, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("requester_home")).status_code == 200


def test_logout(client, requester):
    client.force_login(requester)
    client.post(reverse("account_logout"))
    assert client.get(reverse("requester_home")).status_code == 302


def test_failed_logins_are_delayed(client, requester):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": "rita", "password": "wrong"})
    # Even the right password is refused until the delay passes (tests/marketplace/
    # test_login_throttle.py: per login and address, growing, and how to unlock).
    response = client.post(reverse("account_login"), {"login": "rita", "password": PASSWORD})
    assert response.status_code != 302
    assert "Too many failed sign-ins. Please wait" in response.content.decode()


def test_signup_is_rate_limited_per_ip(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "2/h/ip"}
    statuses = []
    for n in range(3):
        client.logout()
        statuses.append(
            signup(client, username=f"w{n}", email="", account_type="worker").status_code
        )
    assert statuses == [302, 302, 429]
    assert not User.objects.filter(username="w2").exists()


def test_password_reset_sends_a_link(client, requester):
    response = client.post(reverse("account_reset_password"), {"email": "rita@acme.example"})
    assert response.status_code == 302
    assert "/accounts/password/reset/key/" in mail.outbox[-1].body
