"""The path a phone takes in the compose stack: nginx (Debian's, with the committed
deploy/nginx/ configuration) in front of two Daphne processes sharing PostgreSQL and
Redis, no sticky sessions.

Without nginx these tests are skipped on a laptop, but fail under CI=true, where
.ci/run installs it."""

import asyncio
import json
import os
import re
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from marketplace.models import WorkerPresence
from tasks.models import Assignment, Task
from tasks.settling import SAFETY_NET_AFTER, score_overdue_checks, settle_overdue_tasks
from tests.conftest import PASSWORD
from tests.daphne import DaphneProcess
from tests.nginx import NginxProcess, nginx_binary
from tests.tasks.test_work_daphne import (
    assert_drained_exactly,
    in_own_connection,
    publish_through_http,
    refreshed,
    session_cookie,
    wait_for,
)
from tests.work_client import BotWorker, login_over_http
from tests.work_helpers import published_set, vetted_workers

# Two processes share channel groups only through Redis.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

OPTIONS = ("cat", "dog", "bird")
# Bots answer faster than people: past the per-socket limit meant for phones. Behind
# one proxy, as in docker-compose.yml: the client's address is X-Forwarded-For's last.
DAPHNE_ENV = {
    "WORK_WS_RATE_PER_SECOND": "100",
    "WORK_WS_BURST": "100",
    "ALLAUTH_TRUSTED_PROXY_COUNT": "1",
}


@pytest.fixture
def nginx():
    binary = nginx_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but nginx is missing (apt-get install -y nginx)")
        pytest.skip("Debian's nginx is not installed")
    return binary


@pytest.fixture
def two_daphnes_behind_nginx(nginx, tmp_path):
    daphnes = [DaphneProcess(**DAPHNE_ENV).start()]
    try:
        daphnes.append(DaphneProcess(**DAPHNE_ENV).start())
        proxy = NginxProcess(nginx, [d.port for d in daphnes], tmp_path).start()
    except BaseException:
        for daphne in daphnes:
            daphne.stop()
        raise
    try:
        yield proxy, daphnes
    finally:
        proxy.stop()
        for daphne in daphnes:
            daphne.stop()


def sockets_served_by(proxy: NginxProcess, daphne: DaphneProcess) -> int:
    """Work sockets nginx handed to this Daphne first (logged when they close)."""
    pattern = re.compile(rf"^/ws/work/ 101 127\.0\.0\.1:{daphne.port}\b")
    return sum(1 for line in proxy.access_log() if pattern.match(line))


def test_fifty_workers_through_nginx_drain_a_set_and_survive_a_daphne_killed(
    two_daphnes_behind_nginx, requester_org, requester, admin_user
):
    proxy, (first, second) = two_daphnes_behind_nginx
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=150,
        gold=10,
        assignments_per_task=2,
        gold_ratio_permille=50,
        options=OPTIONS,
    )
    workers = vetted_workers(50)
    # Everything through nginx: the bots know its address only.
    bots = [
        BotWorker(proxy.url, session_cookie(w), list(OPTIONS), think_seconds=0.05) for w in workers
    ]
    held_at_kill: dict[int, int] = {}

    async def scenario():
        # Fifty handshakes at once on a busy machine: one Daphne may drop a handshake it
        # has not accepted within 5 s, and the bot tries again, as the page does.
        running = asyncio.gather(*(bot.work(reconnect_for=90) for bot in bots))
        while sum(len(bot.acked) for bot in bots) < 80:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(second.kill_hard)
        rows = await asyncio.to_thread(
            in_own_connection,
            lambda: list(
                Assignment.objects.filter(task_set=task_set, status="active").values_list(
                    "worker", "pk"
                )
            ),
        )
        held_at_kill.update(rows)
        # No restart: the killed process's workers carry on through the other one.
        await running

    asyncio.run(asyncio.wait_for(scenario(), timeout=300))
    # Answers are settled after they are acknowledged, by jobs run in the servers here
    # (no broker worker). Those the killed process had not run died with it; beat's
    # safety net settles their tasks a minute on: run here as beat would then.
    wait_for(lambda: refreshed(task_set).status == "completed", seconds=30)
    a_minute_on = timezone.now() + SAFETY_NET_AFTER + timedelta(seconds=5)
    score_overdue_checks(now=a_minute_on)
    settle_overdue_tasks(now=a_minute_on)
    completed = wait_for(lambda: refreshed(task_set).status == "completed", seconds=60)
    assert sockets_served_by(proxy, second) > 0, "no worker was on the killed Daphne"
    assert sockets_served_by(proxy, first) > 0, "nginx sent every socket to one Daphne"
    assert held_at_kill, "the kill came while claims were held"
    assert_drained_exactly(task_set, bots)
    # Claims held at the kill were resumed by their worker's next welcome, or answered
    # offline and sent from the outbox on reconnect: none lost, each acknowledged.
    statuses = set(
        Assignment.objects.filter(pk__in=held_at_kill.values()).values_list("status", flat=True)
    )
    assert statuses == {"submitted"}
    acknowledged = {a for bot in bots for a in bot.acked.values()}
    assert set(held_at_kill.values()) <= acknowledged
    assert [e for bot in bots for e in bot.errors if e.get("code") != "slot_retaken"] == []
    unsettled = Task.objects.filter(task_set=task_set, is_gold=False, settled_at__isnull=True)
    assert completed, f"the set did not complete: {unsettled.count()} tasks unsettled"


def test_a_set_published_on_one_daphne_reaches_sockets_on_both_through_nginx(
    two_daphnes_behind_nginx, requester_org, requester, admin_user
):
    proxy, (first, second) = two_daphnes_behind_nginx
    draft = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Warm-up",
        publish=False,
    )
    workers = vetted_workers(6)
    # A real login through nginx (CSRF, session cookie, Host with its port).
    cookies = [login_over_http(proxy.url, w.username, PASSWORD) for w in workers]

    async def scenario():
        from websockets.asyncio.client import connect

        ws_url = proxy.url.replace("http", "ws") + "/ws/work/"
        sockets = []
        try:
            for cookie in cookies:
                headers = [
                    ("Cookie", f"sessionid={cookie}"),
                    ("Origin", proxy.url),
                    # Written by the client: nginx must replace it, not pass it on.
                    ("X-Forwarded-For", "203.0.113.9"),
                ]
                ws = await connect(ws_url, additional_headers=headers, open_timeout=20)
                sockets.append(ws)
                await ws.send(json.dumps({"type": "hello", "version": 1}))
                welcome = json.loads(await asyncio.wait_for(ws.recv(), timeout=20))
                assert welcome["type"] == "welcome" and welcome["sets"] == [], welcome
            # Published on the first process alone, not through nginx.
            await asyncio.to_thread(
                in_own_connection, lambda: publish_through_http(first.url, requester, draft.pk)
            )
            return [json.loads(await asyncio.wait_for(ws.recv(), timeout=20)) for ws in sockets]
        finally:
            for ws in sockets:
                await ws.close()

    announced = asyncio.run(scenario())
    assert [(m["type"], m["sets"][0]["id"]) for m in announced] == [("sets", draft.pk)] * 6
    # The sockets closed: nginx has logged where each one was.
    assert wait_for(lambda: sockets_served_by(proxy, second) > 0, seconds=10)
    assert sockets_served_by(proxy, first) > 0
    addresses = set(
        WorkerPresence.objects.filter(worker__in=workers, channel="socket").values_list(
            "ip_address", flat=True
        )
    )
    assert addresses == {"127.0.0.1"}


def test_nginx_serves_static_files_compressed_and_cached(two_daphnes_behind_nginx):
    proxy, _daphnes = two_daphnes_behind_nginx
    manifest = json.loads((settings.STATIC_ROOT / "staticfiles.json").read_text())
    hashed = manifest["paths"]["tasks/work.js"]
    response = requests.get(
        f"{proxy.url}/static/{hashed}", headers={"Accept-Encoding": "gzip"}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    # nginx's header (WhiteNoise's would say max-age=315360000): the file never reached
    # a Daphne.
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Pages come compressed too.
    page = requests.get(f"{proxy.url}/accounts/login/", timeout=10)
    assert page.status_code == 200 and page.headers.get("Content-Encoding") == "gzip"
