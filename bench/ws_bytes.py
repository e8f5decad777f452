"""Bytes a worker's phone sends and receives per text task on /ws/work/, with and
without permessage-deflate: one worker answers --tasks transcription tasks through a
counting TCP proxy in front of a Daphne started as production starts it
(marketplace.serve). "Without" is the same server with a client that offers no
compression, which is every socket before marketplace.serve accepted it.

Point it at a scratch database (it creates a requester, a set and a worker there):
    createdb marketplace_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/marketplace_bench DEBUG=1
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/ws_bytes.py --tasks 40

Prints the handshake's bytes and then bytes up and down per task (claim -> task ->
submit -> submitted, the TCP payload: WebSocket frames with their headers)."""

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

import django

django.setup()

from websockets.asyncio.client import connect  # noqa: E402

from marketplace.models import Membership, Organization, WorkerProfile  # noqa: E402
from tasks.models import TaskSet  # noqa: E402
from tests.daphne import DaphneProcess, free_port  # noqa: E402
from tests.factories import UserFactory, WorkerProfileFactory  # noqa: E402
from tests.work_helpers import published_set, qualify  # noqa: E402

# Lines of a Khmer-and-English transcription set, each task its own: repetition
# across tasks would flatter compression.
LINES = [
    "The market opens at seven; ផ្សារបើកម៉ោងប្រាំពីរ. Bring the receipts from Tuesday.",
    "Rice, 25 kg, 3 bags - paid in cash at the Psar Leu stall.",
    "សូមអរគុណសម្រាប់ការទិញ! Change given: 4,500 riel.",
    "Fish sauce x2, palm sugar x1, total 12,000 KHR.",
    "Delivery to Sala Kamreuk village before noon, call Dara first.",
    "ថ្ងៃច័ន្ទ ទី៧ ខែធ្នូ — invoice 0042 for the school canteen.",
    "Motorbike repair: new chain and brake pads, 38 USD.",
    "Two boxes of exercise books for grade 4, received by Ms. Sophea.",
]


def line(i: int) -> str:
    return f"{LINES[i % len(LINES)]} ({i})"


class CountingProxy:
    """Forwards TCP to the server and counts the payload each way."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.up = 0
        self.down = 0

    async def _pipe(self, reader, writer, direction: str) -> None:
        try:
            while data := await reader.read(65536):
                setattr(self, direction, getattr(self, direction) + len(data))
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(
            self._pipe(client_reader, server_writer, "up"),
            self._pipe(server_reader, client_writer, "down"),
            return_exceptions=True,
        )

    async def start(self) -> int:
        port = free_port()
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        return port


def make_data(tag: str, tasks: int):
    admin = UserFactory(username=f"bytes-admin-{tag}", is_staff=True)
    requester = UserFactory(username=f"bytes-req-{tag}")
    org = Organization.objects.create(
        name=f"Bytes {tag}", slug=f"bytes-{tag}", kind=Organization.Kind.REQUESTER
    )
    Membership.objects.create(user=requester, organization=org, role=Membership.Role.ADMIN)
    workers = []
    for mode in ("plain", "deflate"):
        worker = WorkerProfileFactory(
            user=UserFactory(username=f"bytes-{mode}-{tag}"),
            status=WorkerProfile.Status.VETTED,
        ).user
        workers.append(qualify(worker, skills=("transcription:en",)))
    task_set = published_set(
        organization=org,
        requester=requester,
        admin=admin,
        regular=tasks,
        gold=5,
        kind=TaskSet.Kind.TRANSCRIPTION,
        title="Market receipts, batch 3",
        assignments_per_task=2,  # two bots, one per mode, each answer every task
        gold_ratio_permille=0,
        language="en",
        instructions="Type the text exactly as written, Khmer and English alike.",
    )
    for i, task in enumerate(task_set.tasks.filter(is_gold=False).order_by("pk")):
        task.payload_text = line(i)
        task.save(update_fields=["payload_text"])
    return workers


def session_for(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def one_worker(server_port: int, cookie: str, *, compress: bool, tasks: int) -> dict:
    proxy = CountingProxy(server_port)
    port = await proxy.start()
    origin = f"http://127.0.0.1:{port}"
    async with connect(
        f"ws://127.0.0.1:{port}/ws/work/",
        additional_headers=[("Cookie", f"sessionid={cookie}"), ("Origin", origin)],
        compression="deflate" if compress else None,
        open_timeout=10,
    ) as ws:
        await ws.send(json.dumps({"type": "hello", "version": 1, "auto_next": False}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        await asyncio.sleep(0.2)  # a "sets" push may follow the welcome
        handshake = (proxy.up, proxy.down)
        done = 0
        for i in range(tasks):
            await ws.send(json.dumps({"type": "claim"}))
            while (task := json.loads(await ws.recv()))["type"] in ("sets", "revoked"):
                pass
            if task["type"] != "task":
                raise SystemExit(f"no task for the worker: {task}")
            await ws.send(
                json.dumps(
                    {
                        "type": "submit",
                        "assignment": task["assignment"],
                        "answer": line(i),
                        "submission_id": str(uuid.uuid4()),
                        "seconds": 14,
                        "next": False,
                    }
                )
            )
            while (reply := json.loads(await ws.recv()))["type"] in ("sets", "revoked"):
                pass
            assert reply["type"] == "submitted", reply
            done += 1
            await asyncio.sleep(0.25)  # under the socket's rate limit, as a person is
        await asyncio.sleep(0.2)
        up, down = proxy.up - handshake[0], proxy.down - handshake[1]
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
    proxy.server.close()
    return {
        "handshake": handshake,
        "extensions": extensions,
        "tasks": done,
        "up": up / done,
        "down": down / done,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=40)
    args = parser.parse_args()
    tag = str(int(time.time()))
    plain_worker, deflate_worker = make_data(tag, args.tasks)
    daphne = DaphneProcess().start()
    try:
        results = {
            "plain": asyncio.run(
                one_worker(daphne.port, session_for(plain_worker), compress=False, tasks=args.tasks)
            ),
            "deflate": asyncio.run(
                one_worker(
                    daphne.port, session_for(deflate_worker), compress=True, tasks=args.tasks
                )
            ),
        }
    finally:
        daphne.stop()
    for mode, result in results.items():
        up, down = result["handshake"]
        print(
            f"{mode:8} {result['tasks']} tasks: {result['up']:.0f} B up, "
            f"{result['down']:.0f} B down per task (handshake and welcome: {up} B up, "
            f"{down} B down; extensions: {result['extensions']})"
        )


if __name__ == "__main__":
    main()
