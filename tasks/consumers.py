"""/ws/work/: the work protocol (docs/protocol.md). Thin: authenticate, parse, limit,
call tasks.work, send what tasks.protocol builds."""

import json
import time

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from marketplace import presence
from marketplace.consumers import SignedInSocket
from marketplace.models import User, WorkerProfile
from reputation.selectors import standings_for
from tasks import events, protocol, work, work_async
from tasks.work_async import database_work


def _claim(worker: User, task_set_id: int | None) -> dict:
    return protocol.claim_message(work.claim_next_task(worker=worker, task_set_id=task_set_id))


@database_work
def _welcome(worker: User, profile: WorkerProfile) -> dict:
    return protocol.welcome_message(worker, profile)


@database_work
def _claim_message(worker: User, task_set_id: int | None) -> dict:
    return _claim(worker, task_set_id)


async def _claim_now(worker: User, task_set_id: int | None) -> dict:
    if work_async.in_event_loop():
        claim = await work_async.claim(worker_id=worker.pk, task_set_id=task_set_id)
        return protocol.claim_message(claim)
    return await _claim_message(worker, task_set_id)


async def _submit_now(worker: User, answer: dict, auto_next: bool) -> list[dict]:
    """The answer's replies: on the event loop where it can (tasks.work_async), else
    in a thread."""
    if work_async.in_event_loop():
        submission = await work_async.submit(worker_id=worker.pk, **answer)
        if submission is not None and submission.feedback is None:
            replies = [protocol.submitted_message(submission, worker)]
            if auto_next:  # the next task in the same round trip
                replies.append(await _claim_now(worker, None))
            return replies
    return await _submit(worker, answer, auto_next)


@database_work
def _submit(worker: User, answer: dict, auto_next: bool) -> list[dict]:
    submission = work.submit_answer(worker=worker, **answer)
    replies = [protocol.submitted_message(submission, worker)]
    if submission.feedback is not None:
        # A training answer may have qualified the worker (or ended an attempt): the
        # sets open to them change at once.
        replies.append(protocol.sets_after_training(worker, submission.assignment.task_set))
    if auto_next:  # the next task in the same round trip
        replies.append(_claim(worker, None))
    return replies


@database_work
def _release(worker: User, message: dict, auto_next: bool) -> list[dict]:
    assignment = work.release_assignment(
        worker=worker,
        assignment_id=_int(message.get("assignment"), "assignment"),
        reason=str(message.get("reason", "")),
    )
    replies = [{"type": "released", "assignment": assignment.pk}]
    if auto_next:
        replies.append(_claim(worker, None))
    return replies


@database_work
def _open_socket(worker: User, scope: dict) -> tuple[WorkerProfile, dict, int]:
    """What a socket needs before it is accepted, in one trip to a database thread
    (a reconnecting crowd handshakes all at once): the worker's profile (WorkError if
    they may not work), their standings and their presence row."""
    profile = work.require_can_work(worker)
    presence_id = presence.open_socket_presence(
        worker_id=worker.pk,
        device_id=scope.get("cookies", {}).get(presence.DEVICE_COOKIE, ""),
        ip_address=presence.scope_address(scope),
    )
    return profile, standings_for(worker.pk), presence_id


@database_work
def _standings(worker: User) -> dict:
    return standings_for(worker.pk)


_touch_presence = database_work(presence.touch_presence)


def _int(value, name: str, valid: tuple[int, int] = protocol.ID_RANGE) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise work.WorkError("bad_message", _("%(name)s must be a number.") % {"name": name})
    if not valid[0] <= value <= valid[1]:
        raise work.WorkError("bad_message", _("%(name)s is out of range.") % {"name": name})
    return value


def _optional_int(value, name: str, valid: tuple[int, int]) -> int | None:
    """A number, range-checked; anything else is no value (the field is optional)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return _int(value, name, valid)


# Messages up to this many times the limit are still parsed, to name them in the
# refusal; beyond it they are refused unread.
PARSE_LIMIT_FACTOR = 4


class WorkConsumer(SignedInSocket, AsyncWebsocketConsumer):
    async def dispatch(self, message):
        # Channels' own dispatch first closes stale database connections through the
        # one thread shared by all sync code: a hop there for every message of every
        # socket, all queued on that thread. This consumer touches the database only
        # inside database_work, which closes stale connections on its own thread,
        # before and after each call.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            # The standings only filter set announcements: every claim reads them afresh.
            self.profile, self.standings, self.presence_id = await _open_socket(user, self.scope)
        except work.WorkError:
            await self.close(code=4403)
            return
        self.worker = user
        self.auto_next = False
        self.language = settings.LANGUAGE_CODE
        self.tokens = float(settings.WORK_WS_BURST)
        self.refilled_at = time.monotonic()
        self.presence_touched_at = self.refilled_at
        await self.join_groups(
            [events.WORKERS_GROUP, events.work_group(user.pk), *self.sign_in_groups()]
        )
        await self.accept()

    async def _keep_presence(self) -> None:
        # The row spans the socket's activity (pings aside): an idle tab left open at
        # home is not "working in two places at once". Stamped at most once a minute.
        now = time.monotonic()
        if now - self.presence_touched_at >= presence.SOCKET_TOUCH_SECONDS:
            self.presence_touched_at = now
            await _touch_presence(self.presence_id)

    async def send_json(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def error(self, code: str, message: str, **refs) -> None:
        await self.send_json(protocol.error_message(code, message, **refs))

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(
            float(settings.WORK_WS_BURST),
            self.tokens + (now - self.refilled_at) * settings.WORK_WS_RATE_PER_SECOND,
        )
        self.refilled_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            await self.error("bad_message", _("Send JSON text, not binary."))
            return
        size = len(text_data.encode())
        if size > PARSE_LIMIT_FACTOR * settings.WORK_WS_MAX_MESSAGE_BYTES:
            await self.error("too_large", _("That message is too large."))
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self.error("bad_json", _("That message is not valid JSON."))
            return
        if not isinstance(message, dict):
            await self.error("bad_message", _("A message is a JSON object with a type."))
            return
        # Every refusal names the message it refuses, so a client can settle the
        # right outbox entry (resend later, or drop it).
        refs = {
            key: message[key]
            for key in ("assignment", "submission_id")
            if isinstance(message.get(key), int | str) and not isinstance(message.get(key), bool)
        }
        if size > settings.WORK_WS_MAX_MESSAGE_BYTES:
            await self.error("too_large", _("That message is too large."), **refs)
            return
        if not self._take_token():
            await self.error("rate_limited", _("Too many messages: slow down."), **refs)
            return
        kind = message.get("type")
        if kind != "ping":
            await self._keep_presence()
        handler = self.HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self.error("unknown_type", _("Unknown message type."), **refs)
            return
        try:
            # Django's active language follows into the database threads.
            with translation.override(self.language):
                await handler(self, message)
        except work.WorkError as exc:
            await self.error(exc.code, exc.message, **refs)

    async def on_hello(self, message: dict) -> None:
        version = message.get("version", protocol.PROTOCOL_VERSION)
        if version != protocol.PROTOCOL_VERSION:
            await self.error(
                "unsupported_version",
                _("This server speaks version %(v)d of the protocol.")
                % {"v": protocol.PROTOCOL_VERSION},
            )
            return
        self.auto_next = bool(message.get("auto_next", False))
        if isinstance(message.get("lang"), str) and message["lang"] in dict(settings.LANGUAGES):
            self.language = message["lang"]
            translation.activate(self.language)
        self.standings = await _standings(self.worker)
        await self.send_json(await _welcome(self.worker, self.profile))

    async def on_claim(self, message: dict) -> None:
        task_set_id = message.get("set")
        if task_set_id is not None:
            task_set_id = _int(task_set_id, "set")
        await self.send_json(await _claim_now(self.worker, task_set_id))

    async def on_submit(self, message: dict) -> None:
        auto_next = bool(message.get("next", self.auto_next))
        answer = {
            "assignment_id": _int(message.get("assignment"), "assignment"),
            "answer": message.get("answer"),
            "submission_id": work.parse_submission_id(message.get("submission_id")),
            "seconds_spent": _optional_int(
                message.get("seconds"), "seconds", protocol.SECONDS_RANGE
            ),
        }
        for reply in await _submit_now(self.worker, answer, auto_next):
            if reply["type"] == "sets":
                self.standings = await _standings(self.worker)
            await self.send_json(reply)

    async def on_release(self, message: dict) -> None:
        auto_next = bool(message.get("next", self.auto_next))
        for reply in await _release(self.worker, message, auto_next):
            await self.send_json(reply)

    async def on_ping(self, message: dict) -> None:
        await self.send_json({"type": "pong"})

    HANDLERS = {
        "hello": on_hello,
        "claim": on_claim,
        "submit": on_submit,
        "release": on_release,
        "ping": on_ping,
    }

    # --- Channel-layer events (tasks.events) --------------------------------------

    async def work_sets(self, event: dict) -> None:
        relevant = [
            summary
            for summary in event["sets"]
            # Would it be open to this worker if published? Then they care either way.
            if work.set_is_open_to({**summary, "status": "published"}, self.profile, self.standings)
        ]
        if relevant:
            await self.send_json(
                {"type": "sets", "sets": [protocol.available_set(s) for s in relevant]}
            )

    async def work_revoked(self, event: dict) -> None:
        await self.send_json(
            {"type": "revoked", "assignment": event["assignment"], "reason": event["reason"]}
        )

    async def work_close(self, event: dict) -> None:
        await self.error("account_suspended", _("Your account was suspended."))
        await self.close(code=4403)
