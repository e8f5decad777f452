"""A bot worker speaking docs/protocol.md, as a script client would: session cookie,
Origin header, an outbox of answers kept until acknowledged, reconnect and resume.
Used by the Daphne tests and by bench/claim_load.py."""

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlparse

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake


def login_over_http(base_url: str, username: str, password: str) -> str:
    """Log in through allauth's form, like a browser; returns the session cookie value."""
    import requests

    session = requests.Session()
    login = f"{base_url}/accounts/login/"
    session.get(login, timeout=10)
    response = session.post(
        login,
        data={
            "login": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": login},
        timeout=10,
        allow_redirects=False,
    )
    if response.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"login failed for {username}: {response.status_code}")
    return session.cookies["sessionid"]


@dataclass
class BotWorker:
    base_url: str  # http://host:port
    session_cookie: str
    answers: list  # options to choose from (label), or None for transcription
    raw_messages: list[str] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # submission_id -> assignment
    claim_latencies: list[float] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)  # assignments a welcome gave back
    outbox: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    pushes: list[dict] = field(default_factory=list)
    cycles: int = 0
    keep_raw: bool = True
    think_seconds: float = 0.0  # time "spent" on each task before answering
    auto_next: bool = False  # submit with next=true: the answer and the next task in one trip

    def _url(self) -> str:
        parsed = urlparse(self.base_url)
        return f"ws://{parsed.netloc}/ws/work/"

    async def _send(self, ws, message: dict) -> None:
        await ws.send(json.dumps(message))

    async def _receive(self, ws) -> dict:
        """The reply to what was just sent; pushes (sets, revoked) are kept aside."""
        while True:
            raw = await ws.recv()
            if self.keep_raw:
                self.raw_messages.append(raw)
            message = json.loads(raw)
            if message["type"] in ("sets", "revoked"):
                self.pushes.append(message)
                continue
            return message

    def _answer_for(self, task: dict) -> dict:
        if task["kind"] == "transcription":
            answer = "some text"
        elif task["kind"] == "multilabel":
            answer = [task["options"][0]]
        else:
            answer = random.choice(task["options"])
        entry = {
            "type": "submit",
            "assignment": task["assignment"],
            "answer": answer,
            "submission_id": str(uuid.uuid4()),
            "seconds": 3,
        }
        self.outbox.append(entry)  # kept before it is sent, as the page does
        return entry

    async def work(
        self, *, until: float | None = None, stop_on_no_task=True, reconnect_for: float = 0
    ):
        """Claim and answer until no task is left (or `until`, a monotonic time).
        If the connection drops, reconnect for up to `reconnect_for` seconds."""
        while True:
            try:
                finished = await self._session(until=until, stop_on_no_task=stop_on_no_task)
                if finished:
                    return
            # A refused or dropped handshake (the server dying or starting) is a drop
            # like any other: the work page reconnects after it too.
            except (ConnectionClosed, OSError, InvalidHandshake, TimeoutError):
                if reconnect_for <= 0:
                    raise
                deadline = time.monotonic() + reconnect_for
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    try:
                        async with connect(
                            self._url(), additional_headers=self._headers(), open_timeout=2
                        ):
                            break
                    except (OSError, InvalidHandshake, TimeoutError):
                        continue
                else:
                    raise

    def _headers(self):
        return [("Cookie", f"sessionid={self.session_cookie}"), ("Origin", self.base_url)]

    async def _session(self, *, until, stop_on_no_task) -> bool:
        async with connect(
            self._url(), additional_headers=self._headers(), open_timeout=10, max_queue=None
        ) as ws:
            await self._send(ws, {"type": "hello", "version": 1, "auto_next": False})
            welcome = await self._receive(ws)
            assert welcome["type"] == "welcome", welcome
            # Resend unacknowledged answers first: the same submission_id is harmless.
            for entry in list(self.outbox):
                await self._send(ws, entry)
                reply = await self._receive(ws)
                self._settle(entry, reply)
            held = welcome["assignment"]
            if held and all(e["assignment"] != held["assignment"] for e in self.acked_entries()):
                self.resumed.append(held["assignment"])
                task = held
            else:
                started = time.perf_counter()
                await self._send(ws, {"type": "claim"})
                task = await self._receive(ws)
                self.claim_latencies.append(time.perf_counter() - started)
            while True:
                if task["type"] == "no_task":
                    if stop_on_no_task:
                        return True
                    await asyncio.sleep(0.05)
                elif task["type"] == "task":
                    if self.think_seconds:
                        await asyncio.sleep(self.think_seconds * random.uniform(0.5, 1.5))
                    entry = self._answer_for(task)
                    started = time.perf_counter()
                    await self._send(ws, {**entry, "next": self.auto_next})
                    reply = await self._receive(ws)
                    self._settle(entry, reply)
                    self.cycles += 1
                    if self.auto_next and reply["type"] == "submitted":
                        # The next task comes in the same round trip, as on the page.
                        task = await self._receive(ws)
                        self.claim_latencies.append(time.perf_counter() - started)
                        if until is not None and time.monotonic() >= until:
                            return True
                        continue
                else:
                    self.errors.append(task)
                if until is not None and time.monotonic() >= until:
                    return True
                started = time.perf_counter()
                await self._send(ws, {"type": "claim"})
                task = await self._receive(ws)
                self.claim_latencies.append(time.perf_counter() - started)

    def acked_entries(self):
        return [{"assignment": a} for a in self.acked.values()]

    def _settle(self, entry: dict, reply: dict) -> None:
        if reply["type"] == "submitted" and reply["submission_id"] == entry["submission_id"]:
            self.acked[entry["submission_id"]] = entry["assignment"]
            self.outbox.remove(entry)
        elif reply["type"] == "error" and reply.get("code") != "rate_limited":
            self.errors.append(reply)
            self.outbox.remove(entry)
        else:
            self.errors.append(reply)
