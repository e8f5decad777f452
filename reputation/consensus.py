"""A set's final results: Dawid-Skene over every answer of the set, gold held fixed,
written to each regular task as its aggregated answer and confidence. Runs when a set
completes (a Celery job) and on demand (`manage.py aggregate_results`, the set page).

Reads the answers in one query and aggregates in NumPy, so 100,000 tasks take about a
second (bench/quality_aggregate.py). Rejected answers are left out; answers not used
(soft-rejected) stay in, since Dawid-Skene itself weighs their authors down."""

import json

import numpy as np
from django.db import connection, transaction

from reputation import aggregation, scoring
from reputation.services import set_skill, worker_weights
from tasks.models import Assignment, Task, TaskSet

WRITE_BATCH = 5000
# The method stored when "full" was asked for but the set had too few answers per worker and
# class for it (reputation.aggregation.FULL_MIN_ANSWERS_PER_CLASS); tasks.results explains it.
FULL_FELL_BACK = "dawid_skene_one_coin_fallback"


def aggregate_set(*, task_set_id: int) -> int:
    """Aggregate the set's answers; returns how many tasks got a final answer."""
    task_set = TaskSet.objects.get(pk=task_set_id)
    rows = list(
        Assignment.objects.filter(task_set=task_set, status=Assignment.Status.SUBMITTED)
        .exclude(review_status=Assignment.ReviewStatus.REJECTED)
        .order_by("task_id", "worker_id")
        .values_list("task_id", "worker_id", "answer")
    )
    if not rows:
        return 0
    task_ids, task_idx = np.unique(np.array([r[0] for r in rows]), return_inverse=True)
    worker_ids, worker_idx = np.unique(np.array([r[1] for r in rows]), return_inverse=True)
    answers = [r[2] for r in rows]
    gold = dict(
        Task.objects.filter(task_set=task_set, is_gold=True).values_list("pk", "gold_answer")
    )
    position = {int(task_id): i for i, task_id in enumerate(task_ids)}
    scores = _worker_scores(worker_ids, set_skill(task_set))

    if task_set.kind == TaskSet.Kind.TRANSCRIPTION:
        results = _transcriptions(task_set, task_idx, worker_idx, answers, scores, len(task_ids))
        method = "rover"
    elif task_set.kind == TaskSet.Kind.MULTILABEL:
        results = _multilabel(task_set, task_idx, worker_idx, answers, gold, position, task_ids)
        method = "dawid_skene_per_label"
    else:
        results, method = _labels(
            task_set, task_idx, worker_idx, answers, gold, position, task_ids, scores
        )

    updates = [
        (int(task_id), answer, round(1000 * confidence))
        for task_id, (answer, confidence) in zip(task_ids, results, strict=True)
        if int(task_id) not in gold
    ]
    with transaction.atomic():
        _write_results(updates, method)
    return len(updates)


def _write_results(updates: list[tuple[int, object, int]], method: str) -> None:
    """On PostgreSQL one UPDATE ... FROM unnest(arrays) per batch: Django's
    bulk_update builds a CASE per row and took 50 s for 100,000 tasks."""
    if connection.vendor != "postgresql":
        Task.objects.bulk_update(
            [
                Task(pk=pk, aggregated_answer=answer, confidence_permille=confidence,
                     aggregation_method=method)
                for pk, answer, confidence in updates
            ],
            ["aggregated_answer", "confidence_permille", "aggregation_method"],
            batch_size=WRITE_BATCH,
        )  # fmt: skip
        return
    with connection.cursor() as cursor:
        for start in range(0, len(updates), WRITE_BATCH):
            batch = updates[start : start + WRITE_BATCH]
            cursor.execute(
                "UPDATE tasks_task AS t SET aggregated_answer = v.answer::jsonb, "
                "confidence_permille = v.confidence, aggregation_method = %s "
                "FROM unnest(%s::bigint[], %s::text[], %s::int[]) AS v(id, answer, confidence) "
                "WHERE t.id = v.id",
                [
                    method,
                    [pk for pk, _answer, _confidence in batch],
                    [json.dumps(answer) for _pk, answer, _confidence in batch],
                    [confidence for _pk, _answer, confidence in batch],
                ],
            )


def _worker_scores(worker_ids, skill: str) -> np.ndarray:
    """Each worker's reputation in the skill as a probability, in worker_ids' order."""
    weights = worker_weights(worker_ids.tolist(), skill)
    return np.array([weights[int(worker_id)] for worker_id in worker_ids])


def _labels(task_set, task_idx, worker_idx, answers, gold, position, task_ids, scores):
    options = task_set.label_options
    index = {option: i for i, option in enumerate(options)}
    label_idx = np.array([index[answer] for answer in answers])
    gold_idx = {position[t]: index[a] for t, a in gold.items() if t in position and a in index}
    result = aggregation.dawid_skene(
        task_idx,
        worker_idx,
        label_idx,
        len(task_ids),
        len(scores),
        len(options),
        # A requester's "full" is a wish, not an order: full matrices on too few answers per
        # class collapse classes, so the set's own evidence decides, and the method says so.
        model="auto" if task_set.consensus_model == "full" else "one_coin",
        gold=gold_idx,
        prior_accuracy=scores,
    )
    method = f"dawid_skene_{result.model}"
    if task_set.consensus_model == "full" and result.model != "full":
        method = FULL_FELL_BACK
    return [
        (options[label] if label >= 0 else None, float(confidence))
        for label, confidence in zip(result.labels, result.confidence, strict=True)
    ], method


def _multilabel(task_set, task_idx, worker_idx, answers, gold, position, task_ids):
    options = task_set.label_options
    chosen = np.array([[option in answer for option in options] for answer in answers], bool)
    gold_sets = {
        position[t]: np.array([option in a for option in options], bool)
        for t, a in gold.items()
        if t in position
    }
    result = aggregation.multilabel_dawid_skene(
        task_idx,
        worker_idx,
        chosen,
        len(task_ids),
        int(worker_idx.max()) + 1,
        len(options),
        gold=gold_sets,
    )
    return [
        ([o for o, on in zip(options, row, strict=True) if on], float(confidence))
        for row, confidence in zip(result.chosen, result.confidence, strict=True)
    ]


def _transcriptions(task_set, task_idx, worker_idx, answers, scores, n_tasks):
    by_task: list[list[int]] = [[] for _ in range(n_tasks)]
    for answer_number, task_number in enumerate(task_idx):
        by_task[task_number].append(answer_number)
    results = []
    for numbers in by_task:
        texts = [scoring.normalised(task_set, answers[n]) for n in numbers]
        weights = [float(scores[worker_idx[n]]) for n in numbers]
        results.append(aggregation.transcription_consensus(texts, weights))
    return results
