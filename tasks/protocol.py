"""The work protocol's server messages (docs/protocol.md), built in one place so the
WebSocket consumer and the HTTP fallback page send exactly the same thing.

Nothing here may carry a gold answer, an explanation, or anything that tells a gold
task from a regular one: the task message is built from the same fields for both."""

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import User, WorkerProfile
from payouts.currency import format_amount
from reputation.selectors import standings_for
from tasks import work
from tasks.events import SetSummary, set_summary
from tasks.models import Assignment, TaskSet

PROTOCOL_VERSION = 1

# What the numbers in a client's message may hold: what PostgreSQL's parameters hold
# (ids are bigint, seconds an integer). JSON numbers have no limit, and a larger one
# would reach the database as another type, match no function, and fail the call.
ID_RANGE = (1, 2**63 - 1)
SECONDS_RANGE = (-(2**31), 2**31 - 1)  # a phone's clock may step back: the SQL clamps

NO_TASK_MESSAGES = {
    "no_sets": lambda: _("No set is open to you right now. We will tell you when one is."),
    "no_tasks": lambda: _("Every task is taken or answered for now. Try again soon."),
}


def money(amount_minor: int, currency: str) -> dict:
    return {
        "minor": amount_minor,
        "currency": currency,
        "display": format_amount(amount_minor, currency),
    }


def task_message(assignment: Assignment) -> dict:
    task_set = assignment.task_set
    task = assignment.task
    if task.image_derivative:
        payload = {"image": reverse("work_image", args=[assignment.pk])}
    else:
        payload = {"text": task.payload_text}
    return {
        "type": "task",
        "assignment": assignment.pk,
        "set": {
            "id": task_set.pk,
            "title": task_set.title,
            "instructions": reverse("work_instructions", args=[task_set.pk]),
        },
        "kind": task_set.kind,
        "payload": payload,
        "options": task_set.label_options,
        "reward": money(assignment.reward_minor, assignment.currency),
        "expires_at": assignment.expires_at.isoformat(),
        # Seconds left when sent: a phone's clock may be wrong, a duration is not.
        "expires_in": max(0, int((assignment.expires_at - timezone.now()).total_seconds())),
        "time_limit": task_set.time_limit_seconds,
    }


def claim_message(claim: work.Claim) -> dict:
    if claim.assignment is None:
        return no_task_message(claim.reason)
    return task_message(claim.assignment)


def no_task_message(reason: str) -> dict:
    return {"type": "no_task", "reason": reason, "message": NO_TASK_MESSAGES[reason]()}


def earnings_summary(worker: User, rows: list | None = None) -> list[dict]:
    """The worker's earnings per currency: from rows as work.earnings_by_currency
    gives them (or an answer came back with), else read now."""
    rows = work.earnings_by_currency(worker) if rows is None else [work.Earnings(*r) for r in rows]
    return [
        {
            "currency": row.currency,
            "today": money(row.today_minor, row.currency),
            "today_count": row.today_count,
            "pending": money(row.pending_minor, row.currency),
        }
        for row in rows
    ]


def submitted_message(submission: work.Submission, worker: User) -> dict:
    assignment = submission.assignment
    message = {
        "type": "submitted",
        "assignment": assignment.pk,
        "submission_id": str(assignment.submission_id),
        "reward": money(assignment.reward_minor, assignment.currency),
        "earnings": earnings_summary(worker, submission.earnings),
    }
    if submission.feedback is not None:  # training sets only: regular checks stay hidden
        feedback = submission.feedback
        message["feedback"] = {
            "correct": feedback.correct,
            "credit_permille": feedback.credit_permille,
            "right_answer": feedback.right_answer,
            "explanation": feedback.explanation,
        }
    return message


def available_set(summary: SetSummary) -> dict:
    """A set as workers see it, from the summary the set broadcasts also carry."""
    return {
        "id": summary["id"],
        "title": summary["title"],
        "kind": summary["kind"],
        "reward": money(summary["reward_minor"], summary["currency"]),
        "available": summary["status"] == TaskSet.Status.PUBLISHED,
        "training": summary["is_training"],
    }


def available_sets(profile: WorkerProfile) -> list[dict]:
    standings = standings_for(profile.user_id)
    return [
        available_set(set_summary(s))
        for s in work.eligible_sets(profile)
        if work.set_is_open_to(s, profile, standings)
    ]


def sets_after_training(worker: User, training_set: TaskSet) -> dict:
    """Every set open to the worker now, and the training set marked unavailable if
    it no longer is (qualified, or cooling down after an attempt)."""
    sets = available_sets(work.require_can_work(worker))
    if not any(entry["id"] == training_set.pk for entry in sets):
        sets.append({**available_set(set_summary(training_set)), "available": False})
    return {"type": "sets", "sets": sets}


def welcome_message(worker: User, profile: WorkerProfile) -> dict:
    held = work.held_claims(worker)
    return {
        "type": "welcome",
        "version": PROTOCOL_VERSION,
        "worker": {"name": profile.display_name, "earnings": earnings_summary(worker)},
        "assignment": task_message(held[0]) if held else None,
        "sets": available_sets(profile),
    }


def error_message(code: str, message: str, **refs) -> dict:
    return {"type": "error", "code": code, "message": message, **refs}
