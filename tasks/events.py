"""Real-time payloads about work, sent over the channel layer only after the
transaction commits: nobody hears of a claim, pause or answer that was rolled back.

Groups: every worker's work socket is in WORKERS_GROUP (set availability) and in its
own work_group (revocations, forced close); requesters' event sockets are in their
organization's group (live progress)."""

import asyncio
import logging
import time
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

WORKERS_GROUP = "work.sets"
PROGRESS_MIN_INTERVAL_SECONDS = 1  # at most one progress message per set per second


class SetSummary(TypedDict):
    id: int
    title: str
    kind: str
    status: str
    reward_minor: int
    currency: str
    language: str
    required_skill: str
    centre_id: int | None
    min_reputation_permille: int
    priority: int
    is_training: bool
    # For the organization's own qualification test (tasks.work.set_is_open_to).
    organization_id: int
    is_org_test: bool
    requires_org_test: bool


class SetsEvent(TypedDict):
    type: Literal["work.sets"]
    sets: list[SetSummary]


class RevokedEvent(TypedDict):
    type: Literal["work.revoked"]
    assignment: int
    reason: str


class ProgressEvent(TypedDict):
    type: Literal["progress"]
    task_set: int
    status: str
    submitted: int
    needed: int
    tasks_done: int
    tasks_total: int


def work_group(user_id: int) -> str:
    return f"work.user.{user_id}"


def organization_group(organization_id: int) -> str:
    return f"org.{organization_id}"


def set_summary(task_set) -> SetSummary:
    return {
        "id": task_set.pk,
        "title": task_set.title,
        "kind": task_set.kind,
        "status": task_set.status,
        "reward_minor": task_set.reward_minor,
        "currency": task_set.currency,
        "language": task_set.language,
        "required_skill": task_set.required_skill,
        "centre_id": task_set.centre_id,
        "min_reputation_permille": task_set.min_reputation_permille,
        "priority": task_set.priority,
        "is_training": task_set.is_training,
        "organization_id": task_set.organization_id,
        "is_org_test": task_set.is_org_test,
        "requires_org_test": task_set.requires_org_test,
    }


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)


def _on_commit(group: str, message: dict) -> None:
    # robust: the change is committed whatever happens to the broadcast; a worker
    # who misses one hears the truth on their next claim or reconnect.
    transaction.on_commit(lambda: _send(group, message), robust=True)


def sets_changed_on_commit(task_sets) -> None:
    payload: SetsEvent = {"type": "work.sets", "sets": [set_summary(s) for s in task_sets]}
    _on_commit(WORKERS_GROUP, payload)


def revoked_on_commit(*, worker_id: int, assignment_id: int, reason: str) -> None:
    payload: RevokedEvent = {"type": "work.revoked", "assignment": assignment_id, "reason": reason}
    _on_commit(work_group(worker_id), payload)


def close_work_sockets_on_commit(*, worker_id: int, reason: str) -> None:
    _on_commit(work_group(worker_id), {"type": "work.close", "reason": reason})


# This process's last progress send per set (monotonic seconds), and the sets with a
# send waiting for the end of their second. Checked before the shared cache, so that
# most answers cost no round trip to Redis.
_progress_sent_at: dict[int, float] = {}
_progress_pending: set[int] = set()


def progress_on_commit(task_set, *, milestone: bool = False) -> None:
    """Live progress for the requester's set page, at most once a second per set. The
    last answers of a burst must not be the ones the page never hears of: in the
    server, an update that falls inside the second is sent (once) at its end instead,
    with the numbers of then. Where no server loop runs to wait on (a script, a sync
    test), a milestone (a task finished) is sent at once, as before."""

    def send() -> None:
        now = time.monotonic()
        sent_at = _progress_sent_at.get(task_set.pk)
        if sent_at is None or now - sent_at >= PROGRESS_MIN_INTERVAL_SECONDS:
            # First this second in this process; the cache says whether in any.
            if cache.add(f"progress-sent:{task_set.pk}", 1, PROGRESS_MIN_INTERVAL_SECONDS):
                _progress_sent_at[task_set.pk] = now
                _send_progress(task_set)
                return
            sent_at = now  # another process sent it: wait a whole second
        loop = _server_loop()
        if loop is None:
            if milestone:
                _send_progress(task_set)
            return
        if task_set.pk in _progress_pending:
            return
        _progress_pending.add(task_set.pk)
        delay = max(0.0, sent_at + PROGRESS_MIN_INTERVAL_SECONDS - now)
        loop.call_soon_threadsafe(_send_progress_later, task_set, delay)

    transaction.on_commit(send, robust=True)


def _server_loop():
    """The ASGI server's event loop, when called from one of its worker threads (the
    loop async_to_sync would also use), else None."""
    from asgiref.sync import SyncToAsync

    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


def _send_progress_later(task_set, delay: float) -> None:
    """On the server loop: send the set's progress after `delay` seconds."""

    async def later() -> None:
        from channels.db import database_sync_to_async

        await asyncio.sleep(delay)
        _progress_pending.discard(task_set.pk)
        _progress_sent_at[task_set.pk] = time.monotonic()
        try:
            await database_sync_to_async(_send_progress)(task_set)
        except Exception:  # the next answer's update will tell the truth
            logger.exception("progress update for set %s failed", task_set.pk)

    _background.add(task := asyncio.ensure_future(later()))
    task.add_done_callback(_background.discard)


_background: set = set()  # strong references to pending sends, as asyncio asks


def _send_progress(task_set) -> None:
    from tasks.selectors import live_progress

    submitted, tasks_done, tasks_total = live_progress(task_set)
    payload: ProgressEvent = {
        "type": "progress",
        "task_set": task_set.pk,
        "status": task_set.status,
        "submitted": submitted,
        "needed": tasks_total * task_set.assignments_per_task,
        "tasks_done": tasks_done,
        "tasks_total": tasks_total,
    }
    _send(organization_group(task_set.organization_id), {"type": "user.event", "payload": payload})
