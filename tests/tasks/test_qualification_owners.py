"""Who decides who is qualified (issue 17): training that qualifies workers for every
organization's sets is staff's, through every path (service, form, API); a requester
may run its own qualification test, which opens only its own sets that require it and
never moves a worker's platform standing. Both claim engines apply it (run this file on
PostgreSQL and on SQLite)."""

import importlib
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from marketplace.models import Membership
from reputation import services as quality
from reputation.models import WorkerSkill
from tasks import services, work
from tasks.models import Task, TaskSet
from tasks.protocol import available_sets
from tests.work_helpers import published_set, submit_committed, vetted_workers

pytestmark = pytest.mark.django_db

DRAFT = {
    "title": "Signs",
    "kind": "label",
    "label_options": ["cat", "dog"],
    "reward_minor": 5,
    "expected_seconds_per_task": 20,
}
SET_FORM = {
    "title": "Street signs",
    "kind": "label",
    "label_options": "cat\ndog",
    "currency": "USD",
    "reward": "0.05",
    "assignments_per_task": 3,
    "gold_ratio_percent": 10,
    "expected_seconds_per_task": 30,
    "time_limit_minutes": 10,
    "priority": 0,
}


@pytest.fixture
def staff_member(admin_user, requester_org):
    """Staff, a member of the organization that funds the platform's training."""
    Membership.objects.create(
        user=admin_user, organization=requester_org, role=Membership.Role.ADMIN
    )
    return admin_user


def claim(worker, task_set=None):
    return work.claim_next_task(worker=worker, task_set_id=task_set and task_set.pk).assignment


def can_claim(worker, task_set) -> bool:
    """A new claim in this set (given back at once, so that the next look is fresh)."""
    claimed = work.claim_next_task(worker=worker, task_set_id=task_set.pk)
    if claimed.assignment is None:
        return False
    assert not claimed.resumed and claimed.assignment.task_set_id == task_set.pk
    work.release_assignment(worker=worker, assignment_id=claimed.assignment.pk, reason="skip")
    return True


def take_test(worker, test_set, value):
    """Answer the test's checks until the attempt ends (passed, or failed)."""
    for _ in range(60):
        assignment = claim(worker, test_set)
        if assignment is None:
            break
        submit_committed(worker, assignment, value)


def platform_label(worker):
    row = WorkerSkill.objects.get(worker=worker, skill="label")
    return (row.state, row.score_permille, row.checks_total, row.cooldown_until, row.last_event_id)


# --- Platform training is staff's ------------------------------------------------


def test_a_requester_cannot_create_platform_training(requester, requester_org):
    with pytest.raises(ValidationError) as refused:
        services.create_task_set(
            organization=requester_org, actor=requester, is_training=True, **DRAFT
        )
    assert "is_training" in refused.value.message_dict
    assert not TaskSet.objects.exists()


def test_a_requester_cannot_turn_its_draft_into_platform_training(requester, requester_org):
    draft = services.create_task_set(organization=requester_org, actor=requester, **DRAFT)
    with pytest.raises(ValidationError) as refused:
        services.update_task_set(
            task_set_id=draft.pk, actor=requester, changes={"is_training": True}
        )
    assert "is_training" in refused.value.message_dict
    draft.refresh_from_db()
    assert not draft.is_training


def test_staff_create_platform_training_and_requesters_cannot_touch_it(
    staff_member, requester, requester_org
):
    training = published_set(
        organization=requester_org,
        requester=requester,
        admin=staff_member,
        regular=0,
        gold=12,
        is_training=True,
        training_answer_budget=50,
    )
    assert training.is_platform_training and training.created_by == staff_member
    with pytest.raises(PermissionDenied):
        services.update_task_set(
            task_set_id=training.pk, actor=requester, changes={"priority": 100}
        )
    with pytest.raises(PermissionDenied):
        services.pause_task_set(task_set_id=training.pk, actor=requester)
    gold = Task.objects.filter(task_set=training).first()
    with pytest.raises(PermissionDenied):
        quality.correct_gold_answer(actor=requester, task_id=gold.pk, gold_answer="dog")
    # Staff may.
    services.update_task_set(task_set_id=training.pk, actor=staff_member, changes={"priority": 5})
    assert TaskSet.objects.get(pk=training.pk).priority == 5


def test_the_requester_form_offers_no_platform_training(client, requester, requester_org):
    client.force_login(requester)
    page = client.get(reverse("task_set_create")).content.decode()
    assert 'name="is_training"' not in page and 'name="is_org_test"' in page
    client.post(
        reverse("task_set_create"),
        {
            **SET_FORM,
            "organization": requester_org.pk,
            "is_training": "on",  # not a field of this form: never taken
            "training_answer_budget": 20,
        },
    )
    created = TaskSet.objects.get()
    assert not created.is_training


def test_the_staff_form_makes_platform_training(client, staff_member, requester_org):
    client.force_login(staff_member)
    EmailAddress.objects.create(
        user=staff_member, email=staff_member.email, verified=True, primary=True
    )
    client.post(
        reverse("task_set_create"),
        {
            **SET_FORM,
            "organization": requester_org.pk,
            "is_training": "on",
            "training_answer_budget": 20,
        },
    )
    assert TaskSet.objects.get().is_platform_training


def test_a_requester_cannot_edit_platform_training_in_the_form(
    client, staff_member, requester, requester_org
):
    training = services.create_task_set(
        organization=requester_org, actor=staff_member, is_training=True, **DRAFT
    )
    client.force_login(requester)
    response = client.post(
        reverse("task_set_edit", args=[training.pk]),
        {**SET_FORM, "title": "Answer stop"},
    )
    assert response.status_code == 403
    assert TaskSet.objects.get(pk=training.pk).title == "Signs"


def test_the_api_refuses_platform_training_from_a_requester(requester, requester_org):
    api = APIClient()
    api.force_authenticate(requester)
    refused = api.post("/api/v1/task-sets/", {**DRAFT, "is_training": True}, format="json")
    assert refused.status_code == 400
    assert "is_training" in refused.json()["error"]["details"]
    assert not TaskSet.objects.exists()

    draft = api.post("/api/v1/task-sets/", DRAFT, format="json").json()
    refused = api.patch(f"/api/v1/task-sets/{draft['id']}/", {"is_training": True}, format="json")
    assert refused.status_code == 400
    assert "is_training" in refused.json()["error"]["details"]
    assert not TaskSet.objects.get(pk=draft["id"]).is_training

    own = api.post("/api/v1/task-sets/", {**DRAFT, "is_org_test": True}, format="json")
    assert own.status_code == 201
    assert own.json()["is_org_test"] and own.json()["is_training"]


# --- An organization's own test ---------------------------------------------------


@pytest.fixture
def two_organizations(requester_org, requester, outsider, admin_user):
    """Each organization with its own published test and a regular set requiring it."""
    other_org = outsider.memberships.get().organization
    sets = {}
    for name, org, member in (("a", requester_org, requester), ("b", other_org, outsider)):
        sets[f"{name}_test"] = published_set(
            organization=org,
            requester=member,
            admin=admin_user,
            title=f"{name} test",
            regular=0,
            gold=20,
            is_training=True,
            is_org_test=True,
            training_answer_budget=200,
        )
        sets[f"{name}_gated"] = published_set(
            organization=org,
            requester=member,
            admin=admin_user,
            title=f"{name} gated",
            regular=6,
            gold=5,
            requires_org_test=True,
        )
    return sets


def test_passing_one_organizations_test_opens_only_its_own_sets(two_organizations):
    sets = two_organizations
    [worker] = vetted_workers(1)  # platform-qualified in every skill
    platform_before = platform_label(worker)
    assert not can_claim(worker, sets["a_gated"])  # not without the test

    take_test(worker, sets["a_test"], "cat")  # every answer right

    org_a = sets["a_test"].organization_id
    passed = WorkerSkill.objects.get(worker=worker, skill=f"label@org:{org_a}")
    assert passed.state == WorkerSkill.State.QUALIFIED
    assert worker.notifications.latest("pk").subject == "You passed a qualification test"
    assert platform_label(worker) == platform_before  # the platform standing never moved
    assert can_claim(worker, sets["a_gated"])
    assert not can_claim(worker, sets["b_gated"])  # B's sets need B's own test
    assert not can_claim(worker, sets["a_test"])  # passed: the test is done
    # The sets the socket lists (the broadcast summaries' path) agree.
    listed = {entry["id"] for entry in available_sets(worker.worker_profile)}
    assert sets["a_gated"].pk in listed and sets["b_gated"].pk not in listed


def test_failing_an_organizations_test_never_cools_a_worker_down_on_the_platform(
    two_organizations, requester_org, requester, admin_user
):
    sets = two_organizations
    open_set = published_set(
        organization=requester_org, requester=requester, admin=admin_user, title="Open"
    )
    [worker] = vetted_workers(1)
    platform_before = platform_label(worker)

    take_test(worker, sets["a_test"], "dog")  # every answer wrong: gold is "cat"

    org_a = sets["a_test"].organization_id
    failed = WorkerSkill.objects.get(worker=worker, skill=f"label@org:{org_a}")
    assert failed.state == WorkerSkill.State.TRAINING and failed.cooldown_until is not None
    assert platform_label(worker) == platform_before
    assert not can_claim(worker, sets["a_test"])  # cooling down on A's test only
    assert can_claim(worker, open_set)
    assert can_claim(worker, sets["b_test"])


def test_an_organizations_test_is_for_the_platform_qualified_only(two_organizations):
    [newcomer] = vetted_workers(1, prefix="new", qualified=False)
    assert not can_claim(newcomer, two_organizations["a_test"])
    assert not WorkerSkill.objects.filter(worker=newcomer).exists()


def test_an_organizations_test_cannot_itself_require_a_test(requester, requester_org):
    with pytest.raises(ValidationError) as refused:
        services.create_task_set(
            organization=requester_org,
            actor=requester,
            is_org_test=True,
            requires_org_test=True,
            **DRAFT,
        )
    assert "requires_org_test" in refused.value.message_dict


# --- The claim function's text ---------------------------------------------------

WORK_CLAIM_SQL = Path(settings.BASE_DIR) / "tasks" / "sql" / "work_claim.sql"


def _normalised(sql: str) -> str:
    return "\n".join(line.rstrip() for line in sql.strip().rstrip(";").strip().splitlines())


def test_the_migration_installs_the_function_in_the_sql_file():
    migration = importlib.import_module("tasks.migrations.0018_qualification_owners")
    assert _normalised(migration.FORWARD) == _normalised(WORK_CLAIM_SQL.read_text())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL function")
def test_the_installed_work_claim_is_the_sql_file():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_functiondef('work_claim'::regproc)")
        [installed] = cursor.fetchone()
    assert _normalised(installed) == _normalised(WORK_CLAIM_SQL.read_text())
