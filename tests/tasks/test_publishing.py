import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from marketplace.models import AuditLog
from payouts import services as ledger
from payouts.models import JournalEntry, LedgerAccount
from payouts.selectors import cached_balance_mismatches, organization_balances, unbalanced_entries
from tasks import services
from tasks.models import Task, TaskSet
from tasks.pricing import cost_preview, hourly_pay_minor
from tests.concurrency import errors, race

pytestmark = pytest.mark.django_db


def test_cost_preview_adds_gold_share_of_served_assignments_and_fee_rounded_up():
    # 100 tasks x 3 = 300 regular; 10% of served are gold: 300 * 100 / 900 = 33.3 -> 34.
    preview = cost_preview(
        regular_tasks=100,
        assignments_per_task=3,
        reward_minor=7,
        gold_ratio_permille=100,
        currency="USD",
        fee_permille=200,
    )
    assert (preview.regular_assignments, preview.gold_assignments) == (300, 34)
    assert preview.worker_pay_minor == 334 * 7 == 2338
    assert preview.fee_minor == 468  # 2338 * 0.2 = 467.6, rounded up
    assert preview.total_minor == 2806


def test_hourly_pay_rounds_down():
    assert hourly_pay_minor(reward_minor=5, seconds_per_task=7) == 2571  # 2571.43 -> 2571


def make_set(organization, creator, *, gold=5, regular=10, **fields):
    task_set = TaskSet.objects.create(
        organization=organization,
        created_by=creator,
        title="Street signs",
        kind=TaskSet.Kind.LABEL,
        label_options=["stop", "yield", "other"],
        reward_minor=fields.pop("reward_minor", 5),
        expected_seconds_per_task=fields.pop("expected_seconds_per_task", 30),
        **fields,
    )
    Task.objects.bulk_create(
        [Task(task_set=task_set, external_id=f"r{i}", payload_text="x") for i in range(regular)]
        + [
            Task(task_set=task_set, external_id=f"g{i}", is_gold=True, gold_answer="stop")
            for i in range(gold)
        ]
    )
    return task_set


def fund(admin_user, organization, amount_minor):
    ledger.credit_organization(
        organization=organization,
        amount_minor=amount_minor,
        currency="USD",
        actor=admin_user,
        reason="t",
    )


def test_publish_moves_the_cost_into_escrow_in_one_balanced_entry(
    admin_user, requester, requester_org
):
    fund(admin_user, requester_org, 10_000)
    task_set = make_set(requester_org, requester)
    cost = services.preview_for(task_set).total_minor
    services.publish_task_set(task_set_id=task_set.pk, actor=requester)
    task_set.refresh_from_db()
    assert task_set.status == "published" and task_set.published_at
    assert organization_balances(requester_org) == {"USD": 10_000 - cost}
    escrow = LedgerAccount.objects.get(kind="set_escrow", reference=f"set:{task_set.pk}")
    assert escrow.balance_minor == cost
    assert unbalanced_entries() == [] and cached_balance_mismatches() == []
    assert AuditLog.objects.filter(action="task_set.publish").exists()


def test_publish_without_enough_balance_is_refused_and_moves_nothing(
    admin_user, requester, requester_org
):
    fund(admin_user, requester_org, 50)
    task_set = make_set(requester_org, requester)
    with pytest.raises(ValidationError, match=r"balance is 0\.50 USD"):
        services.publish_task_set(task_set_id=task_set.pk, actor=requester)
    task_set.refresh_from_db()
    assert task_set.status == "draft"
    assert organization_balances(requester_org) == {"USD": 50}
    assert not JournalEntry.objects.filter(kind="escrow.fund").exists()


def test_publish_below_the_pay_floor_is_refused_with_the_figures(
    admin_user, requester, requester_org, settings
):
    settings.PAY_FLOOR_HOURLY_MINOR = {"USD": 200}
    fund(admin_user, requester_org, 10_000)
    task_set = make_set(requester_org, requester, reward_minor=1, expected_seconds_per_task=30)
    with pytest.raises(ValidationError, match=r"1\.20 USD per hour, below the floor of 2\.00 USD"):
        services.publish_task_set(task_set_id=task_set.pk, actor=requester)


def test_publish_needs_enough_gold(admin_user, requester, requester_org, settings):
    settings.MIN_GOLD_TASKS_TO_PUBLISH = 5
    fund(admin_user, requester_org, 10_000)
    task_set = make_set(requester_org, requester, gold=4)
    with pytest.raises(ValidationError, match="at least 5 gold tasks; this set has 4"):
        services.publish_task_set(task_set_id=task_set.pk, actor=requester)


def test_outsider_cannot_publish(admin_user, requester, requester_org, outsider):
    fund(admin_user, requester_org, 10_000)
    task_set = make_set(requester_org, requester)
    with pytest.raises(PermissionDenied):
        services.publish_task_set(task_set_id=task_set.pk, actor=outsider)


def test_pause_resume_and_cancel_returns_unspent_escrow(admin_user, requester, requester_org):
    fund(admin_user, requester_org, 10_000)
    task_set = make_set(requester_org, requester)
    services.publish_task_set(task_set_id=task_set.pk, actor=requester)
    services.pause_task_set(task_set_id=task_set.pk, actor=requester)
    with pytest.raises(ValidationError):
        services.pause_task_set(task_set_id=task_set.pk, actor=requester)
    services.resume_task_set(task_set_id=task_set.pk, actor=requester)
    services.cancel_task_set(task_set_id=task_set.pk, actor=requester)
    assert organization_balances(requester_org) == {"USD": 10_000}
    assert LedgerAccount.objects.get(kind="set_escrow").balance_minor == 0
    with pytest.raises(ValidationError):
        services.resume_task_set(task_set_id=task_set.pk, actor=requester)
    actions = list(
        AuditLog.objects.filter(action__startswith="task_set.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "task_set.publish",
        "task_set.pause",
        "task_set.resume",
        "task_set.cancel",
    ]


@pytest.mark.django_db(transaction=True)
def test_two_racing_publishes_fund_escrow_once(admin_user, requester, requester_org):
    fund(admin_user, requester_org, 10_000)
    task_set = make_set(requester_org, requester)
    outcomes = race(
        *[lambda: services.publish_task_set(task_set_id=task_set.pk, actor=requester)] * 2
    )
    assert len(errors(outcomes)) == 1
    cost = services.preview_for(task_set).total_minor
    assert organization_balances(requester_org) == {"USD": 10_000 - cost}
    assert JournalEntry.objects.filter(kind="escrow.fund").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_sets_racing_for_one_balance_never_overdraw(admin_user, requester, requester_org):
    first = make_set(requester_org, requester)
    second = make_set(requester_org, requester)
    cost = services.preview_for(first).total_minor
    fund(admin_user, requester_org, cost + cost // 2)  # enough for one, not two
    outcomes = race(
        lambda: services.publish_task_set(task_set_id=first.pk, actor=requester),
        lambda: services.publish_task_set(task_set_id=second.pk, actor=requester),
    )
    assert len(errors(outcomes)) == 1
    assert organization_balances(requester_org)["USD"] == cost // 2
