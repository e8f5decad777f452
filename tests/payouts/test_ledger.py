import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from marketplace.models import AuditLog
from payouts import services
from payouts.currency import format_amount, parse_amount, plain_amount
from payouts.models import JournalEntry, JournalLine, LedgerAccount
from payouts.selectors import cached_balance_mismatches, organization_balances, unbalanced_entries
from tests.concurrency import errors, race

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.34", "USD", 1234), ("12.3", "USD", 1230), ("1,000", "USD", 100000), ("500", "JPY", 500)],
)
def test_parse_amount_is_exact(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.345", "USD"), ("1.5", "JPY"), ("-3", "USD"), ("1e3", "USD"), ("", "USD")],
)
def test_parse_amount_refuses_what_it_cannot_represent(text, currency):
    with pytest.raises(ValidationError):
        parse_amount(text, currency)


def test_format_amount():
    assert format_amount(123456, "USD") == "1,234.56 USD"
    assert format_amount(-5, "USD") == "-0.05 USD"
    assert format_amount(1500, "JPY") == "1,500 JPY"


def test_plain_amount_keeps_the_sign_apart():
    # The statement CSV's amount column: a 5-cent debit is -0.05, not -1.95.
    assert plain_amount(-5, "USD") == "-0.05"
    assert plain_amount(-150, "USD") == "-1.50"
    assert plain_amount(5, "USD") == "0.05"
    assert plain_amount(0, "USD") == "0.00"
    assert plain_amount(-1500, "JPY") == "-1500"


def test_unbalanced_entry_is_refused_and_writes_nothing(requester_org):
    balance = services.get_account(
        kind=Kind.ORGANIZATION_BALANCE, currency="USD", organization=requester_org
    )
    source = services.get_account(kind=Kind.MANUAL_FUNDING, currency="USD")
    with pytest.raises(ValidationError, match="does not balance"):
        services.post_entry(kind="t", memo="t", lines=[(balance, 100), (source, -99)])
    with pytest.raises(ValidationError):
        services.post_entry(kind="t", memo="t", lines=[(balance, 1.5), (source, -1.5)])
    assert not JournalEntry.objects.exists() and not JournalLine.objects.exists()
    balance.refresh_from_db()
    assert balance.balance_minor == 0


def test_currencies_balance_separately(requester_org):
    usd = services.get_account(
        kind=Kind.ORGANIZATION_BALANCE, currency="USD", organization=requester_org
    )
    eur = services.get_account(kind=Kind.MANUAL_FUNDING, currency="EUR")
    with pytest.raises(ValidationError):
        services.post_entry(kind="t", memo="fx without a rate", lines=[(usd, 100), (eur, -100)])


def test_credit_moves_cached_balances_with_the_lines_and_is_audited(admin_user, requester_org):
    services.credit_organization(
        organization=requester_org,
        amount_minor=25_000,
        currency="USD",
        actor=admin_user,
        reason="INV-1",
    )
    services.credit_organization(
        organization=requester_org,
        amount_minor=1_050,
        currency="USD",
        actor=admin_user,
        reason="INV-2",
    )
    assert organization_balances(requester_org) == {"USD": 26_050}
    assert unbalanced_entries() == []
    assert cached_balance_mismatches() == []
    assert AuditLog.objects.filter(action="organization.credit").count() == 2


def test_replayed_key_credits_once(admin_user, requester_org):
    for _ in range(3):
        services.credit_organization(
            organization=requester_org,
            amount_minor=5_000,
            currency="USD",
            actor=admin_user,
            reason="INV-9",
            idempotency_key="inv-9",
        )
    assert organization_balances(requester_org) == {"USD": 5_000}
    assert JournalEntry.objects.count() == 1
    assert AuditLog.objects.filter(action="organization.credit").count() == 1


@pytest.mark.parametrize(
    "change",
    [{"amount_minor": 5_001}, {"other_org": True}, {"currency": "EUR"}, {"reason": "INV-10"}],
)
def test_same_key_for_a_different_credit_is_a_conflict_not_a_replay(
    admin_user, requester_org, change
):
    from tests.factories import OrganizationFactory

    first = {
        "organization": requester_org,
        "amount_minor": 5_000,
        "currency": "USD",
        "actor": admin_user,
        "reason": "INV-9",
        "idempotency_key": "inv-9",
    }
    entry = services.credit_organization(**first)
    second = {**first, **change}
    if second.pop("other_org", False):
        second["organization"] = OrganizationFactory(name="Beta", kind="requester")
    with pytest.raises(services.IdempotencyConflict) as conflict:
        services.credit_organization(**second)
    assert conflict.value.entry == entry
    assert JournalEntry.objects.count() == 1
    assert organization_balances(requester_org) == {"USD": 5_000}
    assert AuditLog.objects.filter(action="organization.credit").count() == 1


def test_credit_page_reports_a_reused_submission_for_another_credit(
    client, admin_user, requester_org
):
    from tests.factories import OrganizationFactory

    other = OrganizationFactory(name="Beta Labels", kind="requester")
    client.force_login(admin_user)
    url = reverse("staff_credit")
    form = {
        "organization": requester_org.pk,
        "currency": "USD",
        "amount": "10.00",
        "reason": "INV",
        "submission_id": "s1",
    }
    assert "Credited" in client.post(url, form, follow=True).content.decode()
    response = client.post(url, {**form, "organization": other.pk}, follow=True)
    assert response.status_code == 400
    page = response.content.decode()
    assert "already used for a different entry" in page
    assert "Credited" not in page
    assert organization_balances(other) == {}
    assert organization_balances(requester_org) == {"USD": 1_000}


def test_reversal_negates_every_line(admin_user, requester_org):
    entry = services.credit_organization(
        organization=requester_org,
        amount_minor=700,
        currency="USD",
        actor=admin_user,
        reason="oops",
    )
    services.reverse_entry(entry=entry, memo="entered twice", created_by=admin_user)
    services.reverse_entry(entry=entry, memo="entered twice", created_by=admin_user)  # replay
    assert organization_balances(requester_org) == {"USD": 0}
    assert JournalEntry.objects.count() == 2
    with pytest.raises(ValidationError):
        entry.delete()


def test_only_staff_may_credit(requester, requester_org):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.credit_organization(
            organization=requester_org, amount_minor=1, currency="USD", actor=requester, reason="me"
        )


def test_credit_page_parses_amount_and_requires_reason(client, admin_user, requester_org):
    client.force_login(admin_user)
    url = reverse("staff_credit")
    form = {
        "organization": requester_org.pk,
        "currency": "USD",
        "amount": "12.345",
        "reason": "INV",
    }
    assert client.post(url, form).status_code == 400
    assert client.post(url, {**form, "amount": "12.34", "reason": ""}).status_code == 400
    assert organization_balances(requester_org) == {}
    ok = client.post(url, {**form, "amount": "12.34", "submission_id": "abc"})
    again = client.post(url, {**form, "amount": "12.34", "submission_id": "abc"})  # double submit
    assert ok.status_code == again.status_code == 302
    assert organization_balances(requester_org) == {"USD": 1234}


def test_requester_sees_own_balance_only(client, admin_user, requester, requester_org, outsider):
    services.credit_organization(
        organization=requester_org,
        amount_minor=50_000,
        currency="USD",
        actor=admin_user,
        reason="x",
    )
    client.force_login(requester)
    assert "500.00 USD" in client.get(reverse("requester_home")).content.decode()
    client.force_login(outsider)
    assert "500.00 USD" not in client.get(reverse("requester_home")).content.decode()
    assert client.get(reverse("staff_credit")).status_code == 403


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database guards exist on PostgreSQL")
def test_postgres_refuses_unbalanced_lines_and_edits(admin_user, requester_org):
    entry = services.credit_organization(
        organization=requester_org, amount_minor=100, currency="USD", actor=admin_user, reason="x"
    )
    account = LedgerAccount.objects.get(kind=Kind.ORGANIZATION_BALANCE)
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        JournalLine.objects.create(entry=entry, account=account, amount_minor=5, currency="USD")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalLine.objects.filter(entry=entry).update(amount_minor=1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_credits_all_land(admin_user, requester_org):
    """Eight admins crediting at once: the cached balance equals the sum of the lines."""

    def credit(n: int):
        return lambda: services.credit_organization(
            organization=requester_org,
            amount_minor=100 + n,
            currency="USD",
            actor=admin_user,
            reason=f"r{n}",
        )

    assert errors(race(*(credit(n) for n in range(8)))) == []
    assert organization_balances(requester_org) == {"USD": sum(100 + n for n in range(8))}
    assert cached_balance_mismatches() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_key_credit_once(admin_user, requester_org):
    def credit():
        return services.credit_organization(
            organization=requester_org,
            amount_minor=999,
            currency="USD",
            actor=admin_user,
            reason="same invoice",
            idempotency_key="inv-race",
        )

    outcomes = race(*[credit] * 6)
    assert errors(outcomes) == []
    assert len({entry.pk for entry in outcomes}) == 1
    assert organization_balances(requester_org) == {"USD": 999}
    assert JournalEntry.objects.count() == 1
    assert AuditLog.objects.filter(action="organization.credit").count() == 1
