"""The hot path's statements on PostgreSQL, written by hand.

tasks.work holds the rules and their order, and calls these on PostgreSQL where the
ORM would build the statement: a worker claims and answers every few seconds, and
through the ORM each cycle cost more Python (compiling a dozen queries, building
model instances) than database time. Each function here is one or two statements
and keeps the lock the ORM version takes; SQLite keeps the ORM versions, and the
same tests run on both.

Statements use server-side parameter binding (PostgreSQL receives the parameters
apart from the text, and Python does not quote them) and are prepared once per
connection."""

import json
from datetime import datetime

import psycopg
from django.db import connection

from marketplace.models import User, WorkerProfile
from reputation.models import WorkerSkill
from tasks.models import Assignment, Task, TaskSet

# The set's fields the claim, the answer, eligibility and the messages read. The rest
# stay deferred: reading one loads it (correct, but a query).
SET_COLUMNS = (
    "id",
    "organization_id",
    "title",
    "kind",
    "label_options",
    "reward_minor",
    "currency",
    "assignments_per_task",
    "gold_ratio_permille",
    "time_limit_seconds",
    "min_reputation_permille",
    "language",
    "required_skill",
    "centre_id",
    "priority",
    "status",
    # Quality: training, gold scoring, consensus (reputation.services reads these).
    "is_training",
    "training_answer_budget",
    "gold_pass_permille",
    "normalise_case",
    "normalise_punctuation",
    "target_confidence_permille",
    "max_extra_assignments",
)
_SET_SELECT = ", ".join(f"s.{name}" for name in SET_COLUMNS)
_JSON_FIELDS = {"label_options", "languages", "skills", "answer"}


class _PreparingCursor(psycopg.Cursor):
    """Prepares each statement on first use on its connection, so PostgreSQL plans
    these few statements once per connection, not on every claim: planning was about
    a quarter of its time per cycle. Django leaves psycopg's preparing off for poolers
    in transaction mode; this stack has none (PgBouncer 1.21+ would need
    max_prepared_statements set)."""

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


def _instance(model, values: dict):
    """A model instance as the ORM would load it from these columns; any field not
    given is deferred."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    row = []
    for name in names:
        value = values[name]
        if name in _JSON_FIELDS and isinstance(value, str):
            value = json.loads(value)  # Django loads jsonb as text and decodes it itself
        row.append(value)
    return model.from_db(connection.alias, names, row)


def _task_set(row, start: int = 0) -> TaskSet:
    return _instance(TaskSet, dict(zip(SET_COLUMNS, row[start:], strict=False)))


# --- Claiming ------------------------------------------------------------------


def locked_profile(worker_id: int) -> WorkerProfile | None:
    """The worker's profile, locked FOR UPDATE (only the profile row, not the user's),
    with a user that carries the current is_active."""
    with _cursor() as cursor:
        cursor.execute(
            "SELECT p.id, p.user_id, p.display_name, p.status, p.languages, p.skills, "
            "p.centre_id, p.enrolled_by_id, u.is_active "
            "FROM marketplace_workerprofile p JOIN marketplace_user u ON u.id = p.user_id "
            "WHERE p.user_id = %s FOR UPDATE OF p",
            [worker_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    names = ("id", "user_id", "display_name", "status", "languages", "skills")
    profile = _instance(
        WorkerProfile,
        {**dict(zip(names, row, strict=False)), "centre_id": row[6], "enrolled_by_id": row[7]},
    )
    profile.user = _instance(User, {"id": row[1], "is_active": row[8]})
    return profile


_STANDING_COLUMNS = ("id", "skill", "state", "score_permille", "cooldown_until")


def standings(worker_id: int) -> dict[str, WorkerSkill]:
    """As reputation.selectors.standings_for, with only the fields a claim reads
    (tasks.work.set_is_open_to)."""
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_STANDING_COLUMNS)} FROM reputation_workerskill "  # noqa: S608 (constant column list)
            "WHERE worker_id = %s",
            [worker_id],
        )
        rows = cursor.fetchall()
    return {
        row[1]: _instance(WorkerSkill, dict(zip(_STANDING_COLUMNS, row, strict=True)))
        for row in rows
    }


_ASSIGNMENT_COLUMNS = (
    "id",
    "task_id",
    "task_set_id",
    "is_gold",
    "worker_id",
    "status",
    "claimed_at",
    "expires_at",
    "submitted_at",
    "answer",
    "submission_id",
    "seconds_spent",
    "released_at",
    "release_reason",
    "reward_minor",
    "currency",
    "gold_credit_permille",
    "review_status",
    "review_reason",
    "reviewed_at",
)
_ASSIGNMENT_SELECT = ", ".join(f"a.{name}" for name in _ASSIGNMENT_COLUMNS)


def held_claims(worker_id: int, now: datetime) -> list[Assignment]:
    """As tasks.work.held_claims: live claims in published sets, oldest first, each
    with its task (what the task message shows) and set."""
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT {_ASSIGNMENT_SELECT}, t.payload_text, t.image_derivative, {_SET_SELECT} "  # noqa: S608 (constant column lists)
            "FROM tasks_assignment a "
            "JOIN tasks_task t ON t.id = a.task_id JOIN tasks_taskset s ON s.id = a.task_set_id "
            "WHERE a.worker_id = %s AND a.status = 'active' AND a.expires_at > %s "
            "AND s.status = 'published' ORDER BY a.claimed_at, a.id",
            [worker_id, now],
        )
        rows = cursor.fetchall()
    width = len(_ASSIGNMENT_COLUMNS)
    held = []
    for row in rows:
        assignment = _instance(Assignment, dict(zip(_ASSIGNMENT_COLUMNS, row, strict=False)))
        assignment.task = _instance(
            Task, {"id": row[1], "payload_text": row[width], "image_derivative": row[width + 1]}
        )
        assignment.task_set = _task_set(row, width + 2)
        held.append(assignment)
    return held


_SUMMARY_COLUMNS = (
    "id",
    "kind",
    "status",
    "language",
    "required_skill",
    "centre_id",
    "min_reputation_permille",
    "priority",
    "is_training",
)


def published_sets() -> list[dict]:
    """Every published set, as the fields tasks.work.set_is_open_to reads (and the
    priority), for the caller to filter by that one rule."""
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_SUMMARY_COLUMNS)} FROM tasks_taskset "  # noqa: S608 (constant column lists)
            "WHERE status = 'published' ORDER BY priority DESC, id"
        )
        return [dict(zip(_SUMMARY_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def lock_published_set(task_set_id: int, *, exclusive: bool = False) -> TaskSet | None:
    """The set, share-locked (or locked for update: training sets), if it is still
    published (see tasks.work._hold_set_open): read under the lock, so the claim uses
    its current fields."""
    mode = "UPDATE" if exclusive else "SHARE"
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT {_SET_SELECT} FROM tasks_taskset s "  # noqa: S608 (constant column lists)
            f"WHERE s.id = %s AND s.status = 'published' FOR {mode}",
            [task_set_id],
        )
        row = cursor.fetchone()
    return None if row is None else _task_set(row)


# Open regular tasks of the set after an id, unseen by the worker, that look free in
# this statement's snapshot (the same query as tasks.work.claim_candidates; it walks
# the partial index task_open_regular).
_CANDIDATES = (
    "FROM tasks_task t "
    "WHERE t.task_set_id = %(set)s AND t.is_open AND NOT t.is_gold AND t.id > %(after)s "
    "AND NOT EXISTS (SELECT 1 FROM tasks_assignment a "
    "WHERE a.task_id = t.id AND a.worker_id = %(worker)s) "
    "AND t.submitted_count < %(needed)s + t.extra_assignments - (SELECT count(*) "
    "FROM tasks_assignment a "
    "WHERE a.task_id = t.id AND a.status = 'active' AND a.expires_at > %(now)s) "
)

# Run only once the candidate's row lock is held, so in a new snapshot: the slots are
# counted again (anyone else adding a claim to this task held the same lock, so the
# count is exact), and the claim is inserted only if one is free. A wanted gold task,
# random among the worker's unseen gold, is claimed in its place: gold has no slot
# limit and takes no lock, but is only ever served while regular work is.
_CLAIM_IF_FREE = (
    "WITH gold AS ("
    " SELECT g.id FROM tasks_task g"
    " WHERE %(wants_gold)s AND g.task_set_id = %(set)s AND g.is_gold"
    " AND NOT EXISTS (SELECT 1 FROM tasks_assignment a"
    " WHERE a.task_id = g.id AND a.worker_id = %(worker)s)"
    " ORDER BY random() LIMIT 1"
    "), picked AS ("
    " SELECT COALESCE((SELECT id FROM gold), t.id) AS task_id FROM tasks_task t"
    " WHERE t.id = %(task)s AND t.submitted_count + (SELECT count(*) FROM tasks_assignment a"
    " WHERE a.task_id = t.id AND a.status = 'active' AND a.expires_at > %(now)s)"
    " < %(needed)s + t.extra_assignments"
    "), made AS ("
    " INSERT INTO tasks_assignment (task_id, task_set_id, is_gold, worker_id, status,"
    " claimed_at, expires_at, reward_minor, currency, release_reason, review_status,"
    " review_reason)"
    " SELECT p.task_id, %(set)s, p.task_id <> %(task)s, %(worker)s, 'active',"
    " %(now)s, %(expires)s, %(reward)s, %(currency)s, '', 'pending', '' FROM picked p"
    " RETURNING id, task_id, is_gold"
    ")"
    " SELECT m.id, m.task_id, m.is_gold, t.payload_text, t.image_derivative"
    " FROM made m JOIN tasks_task t ON t.id = m.task_id"
)


def claim_in_set(
    *, task_set: TaskSet, worker_id: int, now: datetime, expires_at: datetime, wants_gold: bool
) -> tuple[Assignment | None, bool]:
    """As tasks.work's ORM path: a new assignment in this set, or None and whether a
    task was passed over because another claimer held its lock."""
    params = {
        "set": task_set.pk,
        "worker": worker_id,
        "needed": task_set.assignments_per_task,
        "now": now,
        "after": 0,
    }
    with _cursor() as cursor:
        while True:
            # The first candidate by id, locked; SKIP LOCKED spreads claimers over
            # tasks instead of queueing them on one.
            cursor.execute(
                f"SELECT t.id {_CANDIDATES} ORDER BY t.id LIMIT 1 FOR UPDATE OF t SKIP LOCKED",
                params,
            )
            candidate = cursor.fetchone()
            if candidate is None:
                # Were candidates passed over only because others held them? Then
                # their claims may leave a slot: worth a retry.
                cursor.execute(f"SELECT 1 {_CANDIDATES} LIMIT 1", params)
                return None, cursor.fetchone() is not None
            cursor.execute(
                _CLAIM_IF_FREE,
                {
                    **params,
                    "task": candidate[0],
                    "wants_gold": wants_gold,
                    "expires": expires_at,
                    "reward": task_set.reward_minor,
                    "currency": task_set.currency,
                },
            )
            made = cursor.fetchone()
            if made is not None:
                break
            params["after"] = candidate[0]  # full after all: the next one
    assignment_id, task_id, is_gold, payload_text, image_derivative = made
    assignment = _instance(
        Assignment,
        {
            "id": assignment_id,
            "task_id": task_id,
            "task_set_id": task_set.pk,
            "is_gold": is_gold,
            "worker_id": worker_id,
            "status": Assignment.Status.ACTIVE,
            "claimed_at": now,
            "expires_at": expires_at,
            "submitted_at": None,
            "answer": None,
            "submission_id": None,
            "seconds_spent": None,
            "released_at": None,
            "release_reason": "",
            "reward_minor": task_set.reward_minor,
            "currency": task_set.currency,
            "gold_credit_permille": None,
            "review_status": Assignment.ReviewStatus.PENDING,
            "review_reason": "",
            "reviewed_at": None,
        },
    )
    assignment.task = _instance(
        Task, {"id": task_id, "payload_text": payload_text, "image_derivative": image_derivative}
    )
    assignment.task_set = task_set
    return assignment, False


# --- Submitting ----------------------------------------------------------------


def locked_assignment(assignment_id: int, worker_id: int) -> Assignment | None:
    """The worker's assignment with its set, locked FOR UPDATE. Only the assignment
    row: the set's row is the claimers' (they share-lock it), and an answer needs no
    lock on it (a pause withdraws claims by locking the assignments)."""
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT {_ASSIGNMENT_SELECT}, {_SET_SELECT} FROM tasks_assignment a "  # noqa: S608 (constant column lists)
            "JOIN tasks_taskset s ON s.id = a.task_set_id "
            "WHERE a.id = %s AND a.worker_id = %s FOR UPDATE OF a",
            [assignment_id, worker_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    assignment = _instance(Assignment, dict(zip(_ASSIGNMENT_COLUMNS, row, strict=False)))
    assignment.task_set = _task_set(row, len(_ASSIGNMENT_COLUMNS))
    return assignment


def count_answer(task_id: int, assignments_per_task: int) -> tuple[int, bool, int]:
    """As tasks.work._count_answer, on this module's cursor."""
    with _cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_task SET submitted_count = submitted_count + 1, "
            "is_open = (is_gold OR submitted_count + 1 < %s + extra_assignments) "
            "WHERE id = %s RETURNING submitted_count, is_gold, extra_assignments",
            [assignments_per_task, task_id],
        )
        submitted_count, is_gold, extra = cursor.fetchone()
    return submitted_count, is_gold, assignments_per_task + extra


def save_answer(assignment: Assignment) -> None:
    """Write the submitted assignment's answer fields (the row is locked)."""
    with _cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_assignment SET status = %s, answer = %s::jsonb, submission_id = %s, "
            "submitted_at = %s, seconds_spent = %s WHERE id = %s",
            [
                assignment.status,
                json.dumps(assignment.answer),
                assignment.submission_id,
                assignment.submitted_at,
                assignment.seconds_spent,
                assignment.pk,
            ],
        )


def earnings_rows(worker_id: int, start_of_day: datetime) -> list[tuple[str, int, int, int]]:
    """(currency, today, today's count, pending) per currency, as earnings_by_currency."""
    with _cursor() as cursor:
        cursor.execute(
            "SELECT currency, "
            "COALESCE(SUM(reward_minor) FILTER (WHERE submitted_at >= %s), 0)::bigint, "
            "COUNT(*) FILTER (WHERE submitted_at >= %s), SUM(reward_minor)::bigint "
            # A rejected answer is not paid (unless an appeal restores it).
            "FROM tasks_assignment WHERE worker_id = %s AND status = 'submitted' "
            "AND review_status <> 'rejected' GROUP BY currency ORDER BY currency",
            [start_of_day, start_of_day, worker_id],
        )
        return cursor.fetchall()
