"""Transcription training without the script (the work page's plain forms): the
expected text beside the worker's, right or wrong."""

import uuid

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tasks.models import Assignment, TaskSet
from tests.work_helpers import published_set, vetted_workers

pytestmark = pytest.mark.django_db


def test_a_trainee_sees_the_expected_text_beside_their_own(
    client, requester_org, requester, admin_user
):
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        kind=TaskSet.Kind.TRANSCRIPTION,
        language="en",
        regular=0,
        gold=12,
        is_training=True,
        training_answer_budget=100,
    )
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    client.force_login(trainee)
    client.post(reverse("work_claim"))
    held = Assignment.objects.select_related("task").get(worker=trainee, status="active")
    response = client.post(
        reverse("work_submit"),
        {"assignment": held.pk, "answer": "chek", "submission_id": str(uuid.uuid4())},
    )
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"Expected text: {held.task.gold_answer}" in shown
    assert "Your answer: chek" in shown
