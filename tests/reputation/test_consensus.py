"""A set's final results: Dawid-Skene over the whole set, gold held fixed, stored on
each task and served in the results export."""

import pytest
from django.utils import timezone

from reputation.consensus import aggregate_set
from tasks import results
from tasks.models import Assignment, Task, TaskSet
from tests.work_helpers import published_set, vetted_workers

pytestmark = pytest.mark.django_db


def submitted(task, worker, answer, review="approved"):
    now = timezone.now()
    return Assignment.objects.create(
        task=task,
        task_set=task.task_set,
        is_gold=task.is_gold,
        worker=worker,
        status="submitted",
        answer=answer,
        claimed_at=now,
        expires_at=now,
        submitted_at=now,
        reward_minor=5,
        currency="USD",
        review_status=review,
    )


def make_set(requester_org, requester, admin_user, kind="label", options=("cat", "dog", "bird")):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=8,
        gold=5,
        kind=kind,
        options=options,
        gold_ratio_permille=0,
    )


def test_dawid_skene_outvotes_two_careless_workers_the_gold_exposed(
    requester_org, requester, admin_user
):
    task_set = make_set(requester_org, requester, admin_user)
    careful, careless_a, careless_b = vetted_workers(3)
    golds = list(task_set.tasks.filter(is_gold=True))
    regular = list(task_set.tasks.filter(is_gold=False).order_by("pk"))
    # On the checks the careful worker is right and the careless two always say "dog".
    for gold in golds:
        submitted(gold, careful, "cat")
        submitted(gold, careless_a, "dog")
        submitted(gold, careless_b, "dog")
    truth = ["cat", "bird"] * 4
    for task, right in zip(regular, truth, strict=True):
        submitted(task, careful, right)
        submitted(task, careless_a, "dog")
        submitted(task, careless_b, "dog")
    assert aggregate_set(task_set_id=task_set.pk) == len(regular)
    stored = list(
        task_set.tasks.filter(is_gold=False)
        .order_by("pk")
        .values_list("aggregated_answer", "aggregation_method")
    )
    assert [answer for answer, _ in stored] == truth  # majority vote would say "dog"
    assert {method for _, method in stored} == {"dawid_skene_one_coin"}
    exported = list(results.iter_results(task_set))
    assert exported[0]["aggregated_answer"] == "cat" and exported[0]["method"].startswith("dawid")
    # Gold keeps its own answer: it is never overwritten by the crowd's.
    assert set(
        Task.objects.filter(task_set=task_set, is_gold=True).values_list(
            "aggregated_answer", flat=True
        )
    ) == {None}


def test_rejected_answers_are_left_out(requester_org, requester, admin_user):
    task_set = make_set(requester_org, requester, admin_user)
    first, second, third = vetted_workers(3)
    task = task_set.tasks.filter(is_gold=False).first()
    submitted(task, first, "bird")
    submitted(task, second, "dog", review="rejected")
    submitted(task, third, "dog", review="rejected")
    aggregate_set(task_set_id=task_set.pk)
    task.refresh_from_db()
    assert task.aggregated_answer == "bird"


def test_multilabel_and_transcription_sets_aggregate_too(requester_org, requester, admin_user):
    tags = make_set(requester_org, requester, admin_user, kind="multilabel", options=("a", "b"))
    workers = vetted_workers(3)
    task = tags.tasks.filter(is_gold=False).first()
    for worker, answer in zip(workers, (["a", "b"], ["a", "b"], ["a"]), strict=True):
        submitted(task, worker, answer)
    aggregate_set(task_set_id=tags.pk)
    task.refresh_from_db()
    assert task.aggregated_answer == ["a", "b"]
    assert task.aggregation_method == "dawid_skene_per_label"

    text = TaskSet.objects.get(pk=tags.pk)
    TaskSet.objects.filter(pk=text.pk).update(kind="transcription")
    Assignment.objects.filter(task_set=text).delete()
    for worker, answer in zip(
        workers, ("the red stop sign", "the red stop sigm", "tha red stop sign"), strict=True
    ):
        submitted(task, worker, answer)
    aggregate_set(task_set_id=text.pk)
    task.refresh_from_db()
    assert task.aggregated_answer == "the red stop sign" and task.aggregation_method == "rover"


def test_cancelling_a_set_still_aggregates_the_answers_given(
    requester_org, requester, admin_user, django_capture_on_commit_callbacks
):
    from tasks import services

    task_set = make_set(requester_org, requester, admin_user)
    first, second = vetted_workers(2)
    task = task_set.tasks.filter(is_gold=False).first()
    submitted(task, first, "bird")
    submitted(task, second, "bird")
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_task_set(task_set_id=task_set.pk, actor=requester)
    task.refresh_from_db()
    assert task.aggregated_answer == "bird" and task.aggregation_method.startswith("dawid")


def test_a_full_model_request_on_a_small_set_says_one_coin_was_used_and_why(
    requester_org, requester, admin_user
):
    task_set = make_set(requester_org, requester, admin_user)
    TaskSet.objects.filter(pk=task_set.pk).update(consensus_model="full")
    workers = vetted_workers(3)
    for task in task_set.tasks.filter(is_gold=False):
        for worker in workers:
            submitted(task, worker, "cat")
    aggregate_set(task_set_id=task_set.pk)
    methods = set(task_set.tasks.filter(is_gold=False).values_list("aggregation_method", flat=True))
    assert methods == {"dawid_skene_one_coin_fallback"}

    first = next(results.iter_results(task_set))
    assert first["method"] == "dawid_skene_one_coin_fallback"
    assert "too few answers" in first["method_note"]
    header, row = list(results.csv_lines(task_set))[:2]
    assert header.rstrip().endswith(",method")
    assert row.rstrip().endswith(",dawid_skene_one_coin_fallback")
