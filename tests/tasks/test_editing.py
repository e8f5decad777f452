import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from marketplace import services as accounts
from marketplace.models import AuditLog
from tasks import services
from tasks.models import TaskSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(requester, requester_org):
    return TaskSet.objects.create(
        organization=requester_org, created_by=requester, title="Signs", kind="label",
        label_options=["stop", "yield"], reward_minor=5,
    )  # fmt: skip


def publish(task_set):
    TaskSet.objects.filter(pk=task_set.pk).update(status="published")


def test_a_draft_can_change_anything(requester, draft):
    services.update_task_set(
        task_set_id=draft.pk,
        actor=requester,
        changes={"reward_minor": 9, "label_options": ["a", "b", "c"]},
    )
    draft.refresh_from_db()
    assert (draft.reward_minor, draft.label_options) == (9, ["a", "b", "c"])
    assert AuditLog.objects.get(action="task_set.edit").data == {
        "fields": ["label_options", "reward_minor"]
    }


def test_a_published_set_changes_only_safe_fields(requester, draft):
    publish(draft)
    with pytest.raises(ValidationError, match="not: assignments_per_task, reward_minor"):
        services.update_task_set(
            task_set_id=draft.pk,
            actor=requester,
            changes={"reward_minor": 1, "assignments_per_task": 5, "title": "New"},
        )
    draft.refresh_from_db()
    assert (draft.reward_minor, draft.title) == (5, "Signs")  # nothing half-applied
    services.update_task_set(
        task_set_id=draft.pk,
        actor=requester,
        changes={"title": "New", "priority": 3, "reward_minor": 5},
    )
    draft.refresh_from_db()
    assert (draft.title, draft.priority) == ("New", 3)


def test_outsider_cannot_edit(outsider, draft):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.update_task_set(task_set_id=draft.pk, actor=outsider, changes={"title": "Mine"})


def test_edit_page_ignores_tampered_unsafe_fields_on_a_published_set(client, requester, draft):
    publish(draft)
    client.force_login(requester)
    page = client.get(reverse("task_set_edit", args=[draft.pk]))
    assert page.status_code == 200 and "disabled" in page.content.decode()
    response = client.post(
        reverse("task_set_edit", args=[draft.pk]),
        {
            "title": "Renamed", "instructions": "", "kind": "label", "label_options": "x\ny",
            "currency": "USD", "reward": "0.01", "assignments_per_task": 1, "gold_ratio_percent": 0,
            "expected_seconds_per_task": 1, "time_limit_minutes": 1, "priority": 0,
        },
    )  # fmt: skip
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.title == "Renamed"
    assert (draft.reward_minor, draft.label_options, draft.assignments_per_task) == (
        5,
        ["stop", "yield"],
        3,
    )


def test_patch_by_api(requester, requester_org, draft):
    client = APIClient()
    key = accounts.create_api_key(organization=requester_org, actor=requester, name="k").secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert (
        client.patch(f"/api/v1/task-sets/{draft.pk}/", {"reward_minor": 7}, format="json").json()[
            "reward_minor"
        ]
        == 7
    )
    publish(draft)
    refused = client.patch(f"/api/v1/task-sets/{draft.pk}/", {"reward_minor": 8}, format="json")
    assert refused.status_code == 400 and "reward_minor" in refused.json()["error"]["message"]
    ok = client.patch(f"/api/v1/task-sets/{draft.pk}/", {"title": "Renamed"}, format="json")
    assert (
        ok.status_code == 200 and ok.json()["title"] == "Renamed" and ok.json()["reward_minor"] == 7
    )


def test_who_may_work_is_set_on_the_page_and_fixed_once_published(
    client, requester, requester_org, centre
):
    client.force_login(requester)
    response = client.post(
        reverse("task_set_create"),
        {
            "organization": requester_org.pk,
            "title": "Handwritten forms",
            "kind": "transcription",
            "currency": "USD",
            "reward": "0.10",
            "assignments_per_task": 2,
            "gold_ratio_percent": 10,
            "expected_seconds_per_task": 60,
            "time_limit_minutes": 10,
            "priority": 0,
            "language": "KM",
            "centre": centre.pk,
            "required_skill": "khmer-handwriting",
            "min_reputation_percent": 40,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    task_set = TaskSet.objects.get(title="Handwritten forms")
    assert (
        task_set.language,
        task_set.centre,
        task_set.required_skill,
        task_set.min_reputation_permille,
    ) == ("km", centre, "khmer-handwriting", 400)
    TaskSet.objects.filter(pk=task_set.pk).update(status="published")
    with pytest.raises(ValidationError, match="required_skill"):
        services.update_task_set(
            task_set_id=task_set.pk, actor=requester, changes={"required_skill": ""}
        )
