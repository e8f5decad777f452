"""The hot path on PostgreSQL: a claim and an answer are one function call each.

The functions (work_claim, work_submit, work_earnings: migration tasks/0011) run
tasks.work's rules statement for statement under the same locks; tasks.work calls them
inside its transactions, and the work socket (tasks.work_async) calls them from the
event loop. Through the client a claim was about nine statements and an answer six,
and the client's cost per statement (psycopg, Django's cursor, the thread hop) was
most of the server's CPU per cycle. SQLite runs the ORM versions in tasks.work; the
same tests run on both.

This module turns what the functions return into model instances, for both callers."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection
from django.db.models import DateTimeField, JSONField, UUIDField

from tasks.models import Assignment, Task, TaskSet


class _PreparingCursor(psycopg.Cursor):
    """Prepares each statement on first use on its connection, so PostgreSQL plans
    these few statements once per connection, not on every call. Django leaves
    psycopg's preparing off for poolers in transaction mode; this stack has none
    (PgBouncer 1.21+ would need max_prepared_statements set)."""

    def execute(self, query, params=None, **kwargs):
        kwargs.setdefault("prepare", True)
        return super().execute(query, params, **kwargs)


def _cursor():
    """A server-binding cursor on Django's connection, wrapped as Django wraps its own:
    errors become django.db errors (IntegrityError) and queries are logged when
    Django logs them (DEBUG, assertNumQueries)."""
    connection.ensure_connection()
    cursor = _PreparingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def _field_kinds(model) -> dict[str, str]:
    kinds = {}
    for field in model._meta.concrete_fields:
        if isinstance(field, DateTimeField):
            kinds[field.attname] = "datetime"
        elif isinstance(field, UUIDField):
            kinds[field.attname] = "uuid"
        elif isinstance(field, JSONField):
            kinds[field.attname] = "json"
    return kinds


_KINDS = {model: _field_kinds(model) for model in (Assignment, Task, TaskSet)}


def instance(model, values: dict):
    """A model instance as the ORM would load it, from a row the functions return as
    JSON (timestamps and UUIDs as text); any field not given is deferred."""
    kinds = _KINDS[model]
    names, row = [], []
    for field in model._meta.concrete_fields:
        name = field.attname
        if name not in values:
            continue
        value = values[name]
        if value is not None:
            kind = kinds.get(name)
            if kind == "datetime":
                value = datetime.fromisoformat(value)
            elif kind == "uuid":
                value = uuid.UUID(value)
        names.append(name)
        row.append(value)
    return model.from_db(connection.alias, names, row)


def _decoded(value) -> dict:
    # Django's connection loads jsonb as text (and decodes it itself); a plain
    # psycopg connection (the socket's) has already decoded it.
    return json.loads(value) if isinstance(value, str) else value


# --- Claiming ------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimResult:
    outcome: str  # "task", "no_sets", "no_tasks" or "not_vetted"
    assignment: Assignment | None = None  # with its task (payload only) and set
    resumed: bool = False  # the worker's held claim, sent again
    contended: bool = False  # tasks passed over because others held them: retry


CLAIM_SQL = "SELECT work_claim(%s, %s, %s)"


def claim_result(value) -> ClaimResult:
    """What work_claim returned, as a ClaimResult."""
    result = _decoded(value)
    if result["outcome"] != "task":
        return ClaimResult(result["outcome"], contended=bool(result.get("contended")))
    assignment = instance(Assignment, result["assignment"])
    assignment.task = instance(Task, result["task"])
    assignment.task_set = instance(TaskSet, result["set"])
    return ClaimResult("task", assignment, resumed=result["resumed"])


def claim(*, worker_id: int, task_set_id: int | None, max_active: int) -> ClaimResult:
    """One claim attempt (work_claim) in the caller's transaction."""
    with _cursor() as cursor:
        cursor.execute(CLAIM_SQL, [worker_id, task_set_id, max_active])
        return claim_result(cursor.fetchone()[0])


# --- Submitting ----------------------------------------------------------------


@dataclass(frozen=True)
class SubmitResult:
    # "submitted", "replayed", "not_found", "already_submitted", "released",
    # "invalid_answer", "slot_retaken" or "training" (refused: see allow_training)
    outcome: str
    assignment: Assignment | None = None  # with its set
    is_gold: bool = False
    closes_task: bool = False
    earnings: list[tuple[str, int, int, int]] | None = None  # as work_earnings
    detail: dict | None = None  # release_reason, or the answer's problem


SUBMIT_SQL = "SELECT work_submit(%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s)"


def submit_params(
    *,
    assignment_id: int,
    worker_id: int,
    answer,
    transcription: tuple[str | None, str | None],
    submission_id: uuid.UUID,
    seconds_spent: int | None,
    start_of_day: datetime,
    allow_training: bool,
) -> list:
    text, problem = transcription
    if not _storable(answer):
        # PostgreSQL's jsonb refuses NUL and lone surrogates: no set's option has
        # them, so refuse the answer as it would (a transcription names the problem).
        answer = None
    return [
        assignment_id,
        worker_id,
        json.dumps(answer),
        text,
        problem,
        submission_id,
        seconds_spent,
        start_of_day,
        allow_training,
    ]


def _storable(value) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    return True


def submit_result(value) -> SubmitResult:
    """What work_submit returned, as a SubmitResult."""
    result = _decoded(value)
    outcome = result["outcome"]
    if outcome not in ("submitted", "replayed"):
        detail = {k: v for k, v in result.items() if k != "outcome"}
        return SubmitResult(outcome, detail=detail)
    assignment = instance(Assignment, result["assignment"])
    assignment.task_set = instance(TaskSet, result["set"])
    return SubmitResult(
        outcome,
        assignment,
        is_gold=bool(result.get("is_gold", assignment.is_gold)),
        closes_task=bool(result.get("closes_task")),
        earnings=[tuple(row) for row in result["earnings"]],
    )


def submit(**params) -> SubmitResult:
    """One answer (work_submit) in the caller's transaction; params as submit_params."""
    with _cursor() as cursor:
        cursor.execute(SUBMIT_SQL, submit_params(**params))
        return submit_result(cursor.fetchone()[0])


def earnings_rows(worker_id: int, start_of_day: datetime) -> list[tuple[str, int, int, int]]:
    """(currency, today, today's count, pending) per currency, as earnings_by_currency."""
    with _cursor() as cursor:
        cursor.execute("SELECT work_earnings(%s, %s)", [worker_id, start_of_day])
        return [tuple(row) for row in _decoded(cursor.fetchone()[0])]
