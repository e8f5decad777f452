import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from marketplace.models import AuditLog, Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_org_admin_adds_a_member_who_then_shares_the_organization(client, requester, requester_org):
    colleague = UserFactory(username="colleague", email="colleague@acme.example")
    EmailAddress.objects.create(user=colleague, email=colleague.email, verified=True, primary=True)
    client.force_login(requester)
    response = client.post(
        reverse("organization_add_member", args=[requester_org.slug]),
        {"login": "colleague@acme.example", "role": "member"},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(
        user=colleague, organization=requester_org, role="member"
    ).exists()
    assert AuditLog.objects.filter(action="organization.add_member").exists()


def test_unknown_login_is_a_clear_error(client, requester, requester_org):
    client.force_login(requester)
    response = client.post(
        reverse("organization_add_member", args=[requester_org.slug]),
        {"login": "nobody@nowhere.example", "role": "member"},
    )
    assert response.status_code == 400
    assert "No account with that username or email" in response.content.decode()


def add_member(client, organization, login):
    return client.post(
        reverse("organization_add_member", args=[organization.slug]),
        {"login": login, "role": "member"},
    )


def test_username_that_looks_like_an_email_is_not_its_owner(client, requester, requester_org):
    # Alice has not verified her address (or has no account yet); an attacker took it
    # as a username.
    UserFactory(username="alice", email="alice@corp.example")
    UserFactory(username="alice@corp.example")
    client.force_login(requester)
    response = add_member(client, requester_org, "alice@corp.example")
    assert response.status_code == 400
    assert "No account has verified the email address alice@corp.example" in (
        response.content.decode()
    )
    assert Membership.objects.filter(organization=requester_org).count() == 1


def test_verified_owner_and_lookalike_username_is_refused_as_ambiguous(
    client, requester, requester_org
):
    alice = UserFactory(username="alice", email="alice@corp.example")
    EmailAddress.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    UserFactory(username="Alice@corp.example")
    client.force_login(requester)
    response = add_member(client, requester_org, "alice@corp.example")
    assert response.status_code == 400
    assert "More than one account matches alice@corp.example" in response.content.decode()
    assert Membership.objects.filter(organization=requester_org).count() == 1


def test_unverified_email_does_not_match(client, requester, requester_org):
    UserFactory(username="bob", email="bob@corp.example")
    client.force_login(requester)
    response = add_member(client, requester_org, "bob@corp.example")
    assert response.status_code == 400
    assert not Membership.objects.filter(user__username="bob").exists()


def test_exact_username_still_adds_the_account(client, requester, requester_org):
    bob = UserFactory(username="bob", email="bob@corp.example")
    client.force_login(requester)
    assert add_member(client, requester_org, "bob").status_code == 302
    assert Membership.objects.filter(user=bob, organization=requester_org).exists()


def test_plain_member_cannot_add_members(client, requester_org):
    from allauth.account.models import EmailAddress

    member = UserFactory(username="plain", email="plain@acme.example")
    EmailAddress.objects.create(user=member, email=member.email, verified=True, primary=True)
    Membership.objects.create(user=member, organization=requester_org, role="member")
    UserFactory(username="friend")
    client.force_login(member)
    response = client.post(
        reverse("organization_add_member", args=[requester_org.slug]),
        {"login": "friend", "role": "admin"},
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user__username="friend").exists()


def test_outsider_cannot_add_themselves_to_another_org(client, outsider, requester_org):
    client.force_login(outsider)
    response = client.post(
        reverse("organization_add_member", args=[requester_org.slug]),
        {"login": "otto", "role": "admin"},
    )
    assert response.status_code == 404
    assert not Membership.objects.filter(user=outsider, organization=requester_org).exists()
