"""Results of a task set, streamed: per task its external id, every submitted answer
with a pseudonymous worker id (stable within the set, never the real id), the time
taken, and an aggregated answer with a confidence.

The aggregated answer is the task's stored one: the reputation-weighted vote from
when the task closed, replaced by Dawid-Skene once the set's final results are
computed (reputation.consensus); plain majority vote only for a task not yet closed.
Gold tasks are quality checks and are left out of results."""

import hashlib
import hmac
import io
import json
from collections import Counter
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Prefetch

from marketplace import csvsafe
from tasks.models import Assignment, Task, TaskSet

CHUNK = 2000
# Which model produced an aggregated answer, and why, in the requester's words. Machine-read
# exports keep "method"; the note is for people reading the file.
METHOD_NOTES = {
    "majority": "Plain majority of the answers so far (the task is not closed yet).",
    "weighted_vote": "Vote weighted by each worker's reputation, when the task closed.",
    "dawid_skene_one_coin": "Dawid-Skene with one accuracy per worker.",
    "dawid_skene_full": "Dawid-Skene with a full confusion matrix per worker.",
    "dawid_skene_one_coin_fallback": (
        "Dawid-Skene with one accuracy per worker: the full confusion matrix was asked for, "
        "but workers had too few answers in some class for it to be reliable."
    ),
    "dawid_skene_per_label": "Dawid-Skene per label (multi-label).",
    "rover": (
        "Vote over the aligned transcriptions (ROVER): word by word, or character by character "
        "for scripts written without spaces such as Khmer."
    ),
}


def pseudonym(task_set_id: int, worker_id: int) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"results:{task_set_id}:{worker_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"w_{digest[:12]}"


def majority(task_set: TaskSet, answers: list) -> tuple[object, float | None]:
    """(aggregated answer, confidence in [0, 1]); ties go to the earlier option."""
    if not answers:
        return None, None
    if task_set.kind == TaskSet.Kind.MULTILABEL:
        votes = Counter(label for answer in answers for label in answer)
        chosen = [label for label in task_set.label_options if votes[label] * 2 > len(answers)]
        agreeing = sum(1 for answer in answers if sorted(answer) == sorted(chosen))
        return chosen, round(agreeing / len(answers), 4)
    counts = Counter(
        " ".join(answer.split()) if task_set.kind == TaskSet.Kind.TRANSCRIPTION else answer
        for answer in answers
    )
    order = {option: i for i, option in enumerate(task_set.label_options)}
    best, votes = min(counts.items(), key=lambda item: (-item[1], order.get(item[0], 0), item[0]))
    return best, round(votes / len(answers), 4)


def _tasks_with_answers(task_set: TaskSet):
    submitted = Assignment.objects.filter(status=Assignment.Status.SUBMITTED).order_by(
        "submitted_at", "pk"
    )
    return (
        Task.objects.filter(task_set=task_set, is_gold=False)
        .order_by("pk")
        .prefetch_related(Prefetch("assignments", queryset=submitted, to_attr="submitted"))
    )


def _result(task_set: TaskSet, task: Task) -> dict:
    answers = [
        {
            "worker": pseudonym(task_set.pk, assignment.worker_id),
            "answer": assignment.answer,
            # approved, soft_rejected (paid, disagreed with the evidence), rejected, pending
            "review": assignment.review_status,
            "seconds": assignment.seconds_spent,
            "submitted_at": assignment.submitted_at.isoformat()
            if assignment.submitted_at
            else None,
        }
        for assignment in task.submitted
    ]
    if task.confidence_permille is not None:
        aggregated, confidence = task.aggregated_answer, task.confidence_permille / 1000
        method = task.aggregation_method
    else:
        aggregated, confidence = majority(task_set, [item["answer"] for item in answers])
        method = "majority"
    return {
        "external_id": task.external_id,
        "aggregated_answer": aggregated,
        "confidence": confidence,
        "method": method,
        "method_note": METHOD_NOTES.get(method, ""),
        "answers": answers,
        "metadata": task.metadata,
    }


def iter_results(task_set: TaskSet) -> Iterator[dict]:
    """Every task's result, reading CHUNK tasks at a time (flat memory)."""
    for task in _tasks_with_answers(task_set).iterator(chunk_size=CHUNK):
        yield _result(task_set, task)


def results_page(task_set: TaskSet, *, offset: int, limit: int) -> tuple[int, list[dict]]:
    tasks = _tasks_with_answers(task_set)
    return tasks.count(), [_result(task_set, task) for task in tasks[offset : offset + limit]]


def jsonl_lines(task_set: TaskSet) -> Iterator[str]:
    for result in iter_results(task_set):
        yield json.dumps(result, ensure_ascii=False) + "\n"


def csv_lines(task_set: TaskSet) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(
        ["external_id", "aggregated_answer", "confidence", "answer_count", "answers", "metadata",
         "method"]
    )  # fmt: skip
    yield flush()
    for result in iter_results(task_set):
        aggregated = result["aggregated_answer"]
        writer.writerow(
            [
                result["external_id"],
                "|".join(aggregated) if isinstance(aggregated, list) else (aggregated or ""),
                "" if result["confidence"] is None else result["confidence"],
                len(result["answers"]),
                json.dumps(result["answers"], ensure_ascii=False),
                json.dumps(result["metadata"], ensure_ascii=False),
                result["method"],
            ]
        )
        yield flush()
