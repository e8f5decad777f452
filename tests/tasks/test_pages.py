"""The requester's path through the pages: create a draft, upload a file with a
mistake, read which line is wrong, fix it, see the cost and hourly pay, publish."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payouts.services import credit_organization
from tasks.models import Task, TaskSet

pytestmark = pytest.mark.django_db

SET_FORM = {
    "title": "Street signs",
    "instructions": "Pick the sign shown.",
    "kind": "label",
    "label_options": "stop\nyield\nother",
    "currency": "USD",
    "reward": "0.05",
    "assignments_per_task": 3,
    "gold_ratio_percent": 10,
    "expected_seconds_per_task": 30,
    "time_limit_minutes": 10,
    "priority": 0,
}


def csv_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("tasks.csv", text.encode(), content_type="text/csv")


def good_csv() -> str:
    rows = [f"r{i},sign {i},," for i in range(20)] + [
        f"g{i},gold sign {i},true,stop" for i in range(5)
    ]
    return "external_id,text,gold,gold_answer\n" + "\n".join(rows) + "\n"


def test_create_upload_fix_and_publish(client, admin_user, requester, requester_org):
    credit_organization(
        organization=requester_org,
        amount_minor=100_00,
        currency="USD",
        actor=admin_user,
        reason="t",
    )
    client.force_login(requester)
    response = client.post(
        reverse("task_set_create"), {**SET_FORM, "organization": requester_org.pk}
    )
    task_set = TaskSet.objects.get()
    assert response.status_code == 302 and task_set.reward_minor == 5
    assert task_set.gold_ratio_permille == 100 and task_set.label_options == [
        "stop",
        "yield",
        "other",
    ]

    bad = good_csv().replace("r3,sign 3,,", "r3,sign 3,true,halt")
    response = client.post(reverse("task_set_upload", args=[task_set.pk]), {"file": csv_file(bad)})
    assert response.status_code == 400
    page = response.content.decode()
    assert "no task was added" in page and "<td>5</td><td>gold_answer</td>" in page
    assert not Task.objects.exists()

    response = client.post(
        reverse("task_set_upload", args=[task_set.pk]), {"file": csv_file(good_csv())}
    )
    assert response.status_code == 302
    page = client.get(reverse("task_set_detail", args=[task_set.pk])).content.decode()
    assert "6.00 USD" in page  # hourly pay: 0.05 x 3600 / 30
    assert "60 regular + 7 gold" in page
    assert "4.02 USD" in page  # total: 67 x 0.05 = 3.35 + 20% fee 0.67

    response = client.post(reverse("task_set_action", args=[task_set.pk, "publish"]))
    assert response.status_code == 302
    task_set.refresh_from_db()
    assert task_set.status == "published"


def test_publish_refusal_is_shown_on_the_page(client, requester, requester_org):
    client.force_login(requester)
    client.post(reverse("task_set_create"), {**SET_FORM, "organization": requester_org.pk})
    task_set = TaskSet.objects.get()
    client.post(reverse("task_set_upload", args=[task_set.pk]), {"file": csv_file(good_csv())})
    response = client.post(reverse("task_set_action", args=[task_set.pk, "publish"]))
    assert response.status_code == 400
    assert "Add funds first" in response.content.decode()
    task_set.refresh_from_db()
    assert task_set.status == "draft"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label_options": "only-one"}, "label_options"),
        ({"label_options": "a\na"}, "label_options"),
        ({"reward": "0.055"}, "reward"),
        ({"reward": "0"}, "reward"),
        ({"assignments_per_task": 16}, "assignments_per_task"),
        ({"kind": "transcription"}, "label_options"),
    ],
)
def test_set_form_errors_name_the_field(client, requester, requester_org, change, field):
    client.force_login(requester)
    response = client.post(
        reverse("task_set_create"), {**SET_FORM, "organization": requester_org.pk, **change}
    )
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not TaskSet.objects.exists()


def test_other_organizations_sets_are_invisible(client, requester, requester_org, outsider):
    task_set = TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Secret set",
        kind="label",
        label_options=["a", "b"],
        reward_minor=5,
    )
    client.force_login(outsider)
    assert "Secret set" not in client.get(reverse("task_set_list")).content.decode()
    assert client.get(reverse("task_set_detail", args=[task_set.pk])).status_code == 404
    assert client.post(reverse("task_set_action", args=[task_set.pk, "cancel"])).status_code == 404
    upload = client.post(
        reverse("task_set_upload", args=[task_set.pk]), {"file": csv_file(good_csv())}
    )
    assert upload.status_code == 404
    # Creating a set in someone else's organization is refused by the form.
    response = client.post(
        reverse("task_set_create"), {**SET_FORM, "organization": requester_org.pk}
    )
    assert response.status_code == 400 and "organization" in response.context["form"].errors
    task_set.refresh_from_db()
    assert task_set.status == "draft" and not task_set.tasks.exists()


def test_workers_cannot_reach_task_set_pages(client, vetted_worker):
    client.force_login(vetted_worker)
    assert client.get(reverse("task_set_list")).status_code == 403
