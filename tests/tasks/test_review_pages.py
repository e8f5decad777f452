"""The requester's side of quality review on the set page: answers not used, with a
reject form; contested gold, with a correction form."""

import pytest
from django.urls import reverse

from tasks.models import Assignment, Task
from tests.reputation.test_quality import answer as submit
from tests.reputation.test_quality import gold_assignment, soft_rejected_answer
from tests.work_helpers import published_set, vetted_workers

pytestmark = pytest.mark.django_db


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=4,
        gold=5,
        gold_ratio_permille=0,
    )


def test_the_set_page_lists_answers_not_used_and_rejects_with_a_reason(client, animals, requester):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    client.force_login(requester)
    page = client.get(reverse("task_set_detail", args=[animals.pk])).content.decode()
    assert "Answers not used" in page and "answered cat" in page
    url = reverse("task_set_reject_answer", args=[animals.pk, mine.pk])
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 400 and "Give the worker a reason" in refused.content.decode()
    assert client.post(url, {"reason": "It is clearly a cat."}).status_code == 302
    mine.refresh_from_db()
    assert mine.review_status == Assignment.ReviewStatus.REJECTED
    assert worker.notifications.filter(subject="An answer was rejected").exists()


def test_another_organization_cannot_reject(client, animals, outsider):
    [worker] = vetted_workers(1)
    mine = soft_rejected_answer(animals, worker)
    client.force_login(outsider)
    response = client.post(
        reverse("task_set_reject_answer", args=[animals.pk, mine.pk]), {"reason": "x"}
    )
    assert response.status_code == 404
    mine.refresh_from_db()
    assert mine.review_status == Assignment.ReviewStatus.SOFT_REJECTED


def test_contested_gold_is_shown_and_corrected_from_the_page(client, animals, requester):
    gold = animals.tasks.filter(is_gold=True).first()
    for worker in vetted_workers(3, prefix="pro"):
        submit(worker, gold_assignment(worker, gold), "dog")
    client.force_login(requester)
    page = client.get(reverse("task_set_detail", args=[animals.pk])).content.decode()
    assert "keep failing" in page and gold.external_id in page
    response = client.post(
        reverse("task_set_correct_gold", args=[animals.pk, gold.pk]),
        {"gold_answer": "dog", "gold_explanation": "It barks."},
    )
    assert response.status_code == 302
    gold = Task.objects.get(pk=gold.pk)
    assert gold.gold_answer == "dog" and gold.gold_contested_at is None
    assert set(Assignment.objects.filter(task=gold).values_list("review_status", flat=True)) == {
        "approved"
    }


def test_the_cost_preview_shows_the_extra_answers_it_covers(
    client, requester_org, requester, admin_user
):
    draft = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=10,
        gold=5,
        publish=False,
        gold_ratio_permille=0,
        assignments_per_task=3,
        max_extra_assignments=2,
    )
    client.force_login(requester)
    page = client.get(reverse("task_set_detail", args=[draft.pk])).content.decode()
    assert "50 regular + 0 gold" in page
    assert "up to 2 extra answers per task" in page
