"""The floor under the claim bench: what one Daphne process costs per claim -> submit
cycle before any of our code runs. The same stack as /ws/work/ (Daphne, Channels'
AsyncWebsocketConsumer with its channel-layer registration, JSON both ways), with a
consumer that answers `claim` with a canned `task` message and `submit` with a canned
`submitted` one, the size of the real ones, and touches no database.

    export REDIS_URL=redis://127.0.0.1:6379/5 DEBUG=1   # or no REDIS_URL: in-memory layer
    .venv/bin/python bench/ws_floor.py --workers 32 --duration 15

Prints cycles per second, Daphne's CPU per cycle and the bots'. The claim bench's
cycle costs this much plus the claim, the answer and PostgreSQL; so if this alone
cannot reach a rate on a machine, neither can the product."""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench import machine  # noqa: E402
from bench.machine import cpu_seconds  # noqa: E402
from tests.daphne import free_port  # noqa: E402

# As big as the real messages (tasks.protocol): a label task with its image URL, and
# the answer's acknowledgement with the worker's earnings.
TASK = json.dumps(
    {
        "type": "task",
        "assignment": 123456,
        "set": {"id": 42, "title": "Street signs, batch 7", "instructions": "/work/sets/42/"},
        "kind": "label",
        "payload": {"image": "/work/assignments/123456/image/"},
        "options": ["stop", "yield", "speed limit", "no entry", "other"],
        "reward": {"minor": 5, "currency": "USD", "display": "0.05 USD"},
        "expires_at": "2026-11-26T01:40:00+00:00",
        "expires_in": 600,
        "time_limit": 600,
    }
)
SUBMITTED = json.dumps(
    {
        "type": "submitted",
        "assignment": 123456,
        "submission_id": "0b5f6a3c-8f7e-4d2a-9c1b-2e3f4a5b6c7d",
        "reward": {"minor": 5, "currency": "USD", "display": "0.05 USD"},
        "earnings": [
            {
                "currency": "USD",
                "today": {"minor": 450, "currency": "USD", "display": "4.50 USD"},
                "today_count": 90,
                "pending": {"minor": 120, "currency": "USD", "display": "1.20 USD"},
            }
        ],
    }
)
REPLIES = {"claim": TASK, "submit": SUBMITTED}


class EchoWorkConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        message = json.loads(text_data)
        await self.send(text_data=REPLIES[message["type"]])


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/floor/", EchoWorkConsumer.as_asgi())])}
)


async def bot(url: str, until: float) -> int:
    from websockets.asyncio.client import connect

    cycles = 0
    async with connect(url, max_size=2**16) as ws:
        while time.monotonic() < until:
            await ws.send('{"type": "claim"}')
            json.loads(await ws.recv())
            await ws.send(
                '{"type": "submit", "assignment": 123456, "answer": "stop", '
                '"submission_id": "0b5f6a3c-8f7e-4d2a-9c1b-2e3f4a5b6c7d", "seconds_spent": 4}'
            )
            json.loads(await ws.recv())
            cycles += 1
    return cycles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15)
    args = parser.parse_args()
    print(machine.describe())
    port = free_port()
    daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(
        [*daphne, "bench.ws_floor:application"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"ws://127.0.0.1:{port}/ws/floor/"

        async def run():
            for _ in range(100):  # until Daphne listens
                try:
                    await bot(url, 0)
                    break
                except OSError:
                    await asyncio.sleep(0.2)
            until = time.monotonic() + args.duration
            return await asyncio.gather(*(bot(url, until) for _ in range(args.workers)))

        server_before, own_before = cpu_seconds(server.pid), cpu_seconds(os.getpid())
        started = time.perf_counter()
        cycles = sum(asyncio.run(run()))
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(server.pid) - server_before
        own_cpu = cpu_seconds(os.getpid()) - own_before
        print(
            f"K={args.workers} D={args.duration:.0f}s: {cycles} claim->submit cycles against a "
            f"consumer that only answers, {cycles / elapsed:.0f} cycles/s; Daphne "
            f"{server_cpu / elapsed * 100:.0f}% of one core, "
            f"{server_cpu / max(cycles, 1) * 1000:.2f} ms CPU per cycle; the bots "
            f"{own_cpu / max(cycles, 1) * 1000:.2f} ms per cycle"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
