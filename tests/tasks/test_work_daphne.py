"""Real Daphne processes, real sockets, many workers at once: the claims that the
work protocol makes, tested the way they could fail in production."""

import asyncio
import json
import time

import pytest
import requests
from django.db.models import Count
from django.test import Client

from tasks.models import Assignment, Task
from tests.conftest import PASSWORD
from tests.daphne import DaphneProcess, free_port
from tests.work_client import BotWorker, login_over_http
from tests.work_helpers import published_set, vetted_workers

pytestmark = pytest.mark.django_db(transaction=True)

OPTIONS = ("cat", "dog", "bird")


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def refreshed(instance):
    instance.refresh_from_db()
    return instance


def wait_for(condition, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def assert_drained_exactly(task_set, bots):
    """Every regular task has exactly its assignments, nobody answered a task twice,
    and every acknowledged answer is in the database."""
    per_task = dict(
        Task.objects.filter(task_set=task_set, is_gold=False)
        .annotate(n=Count("assignments", filter=models_q_submitted()))
        .values_list("pk", "n")
    )
    assert set(per_task.values()) == {task_set.assignments_per_task}
    assert not Assignment.objects.values("task", "worker").annotate(n=Count("id")).filter(n__gt=1)
    acked = {sid for bot in bots for sid in bot.acked}
    stored = {
        str(sid)
        for sid in Assignment.objects.filter(status="submitted").values_list(
            "submission_id", flat=True
        )
    }
    assert acked and acked <= stored


def models_q_submitted():
    from django.db.models import Q

    return Q(assignments__status="submitted")


def assert_no_gold_on_the_wire(bots):
    for bot in bots:
        for raw in bot.raw_messages:
            assert "gold" not in raw.lower(), raw
            assert "SECRET-EXPLANATION" not in raw


def in_own_connection(query):
    """Run an ORM query from a helper thread, closing that thread's connection after
    (a connection left open would keep the test database from being dropped)."""
    from django.db import connection

    try:
        return query()
    finally:
        connection.close()


async def run_all(bots, **kwargs):
    return await asyncio.gather(*(bot.work(**kwargs) for bot in bots))


def test_fifty_workers_drain_a_set_without_over_assigning(requester_org, requester, admin_user):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=120,
        gold=20,
        assignments_per_task=3,
        gold_ratio_permille=100,
        options=OPTIONS,
    )
    workers = vetted_workers(50)
    # Bots answer faster than people: past the per-socket limit meant for phones.
    daphne = DaphneProcess(WORK_WS_RATE_PER_SECOND="100", WORK_WS_BURST="100").start()
    try:
        bots = [BotWorker(daphne.url, session_cookie(w), list(OPTIONS)) for w in workers]
        # Fifty handshakes at once on a busy two-core machine: Daphne drops one that the
        # server has not accepted within 5 s, and the bot tries again, as the page does.
        asyncio.run(run_all(bots, reconnect_for=30))
        # Answers are settled after they are acknowledged (by jobs, run in the server
        # here: no broker worker); the set completes when the last task is settled.
        completed = wait_for(lambda: refreshed(task_set).status == "completed", seconds=60)
    finally:
        daphne.stop()
    assert [e for bot in bots for e in bot.errors] == []
    assert_drained_exactly(task_set, bots)
    assert_no_gold_on_the_wire(bots)
    assert Assignment.objects.filter(task_set=task_set, is_gold=True).exists()
    assert completed, "the set did not complete within a minute of its last answer"
    # Every check was scored, every answer reviewed and paid.
    answers = Assignment.objects.filter(task_set=task_set, status="submitted")
    assert not answers.filter(review_status="pending").exists()
    assert not answers.filter(is_gold=True, gold_credit_permille__isnull=True).exists()


def test_kill_9_mid_run_loses_no_acknowledged_answer(requester_org, requester, admin_user):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=150,
        gold=5,
        assignments_per_task=2,
        gold_ratio_permille=0,
        options=OPTIONS,
    )
    workers = vetted_workers(12)
    # Bots answer faster than people: past the per-socket limit meant for phones.
    daphne = DaphneProcess(WORK_WS_RATE_PER_SECOND="100", WORK_WS_BURST="100").start()
    bots = [
        BotWorker(daphne.url, session_cookie(w), list(OPTIONS), think_seconds=0.05) for w in workers
    ]
    held_at_kill: dict[int, int] = {}

    async def scenario():
        running = asyncio.gather(*(bot.work(reconnect_for=60) for bot in bots))
        while sum(len(bot.acked) for bot in bots) < 60:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(daphne.kill_hard)
        # What each worker held when the server died, as the database says.
        rows = await asyncio.to_thread(
            in_own_connection,
            lambda: list(
                Assignment.objects.filter(task_set=task_set, status="active").values_list(
                    "worker", "pk"
                )
            ),
        )
        held_at_kill.update(rows)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(daphne.start)
        await running

    try:
        asyncio.run(scenario())
    finally:
        daphne.stop()
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


@pytest.mark.redis
def test_a_set_published_through_one_daphne_is_announced_on_another(
    requester_org, requester, admin_user, vetted_worker
):
    draft = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Warm-up",
        publish=False,
    )
    first = DaphneProcess().start()
    second = DaphneProcess(port=free_port()).start()
    try:
        cookie = login_over_http(second.url, vetted_worker.username, PASSWORD)

        async def scenario():
            from websockets.asyncio.client import connect

            async with connect(
                second.url.replace("http", "ws") + "/ws/work/",
                additional_headers=[("Cookie", f"sessionid={cookie}"), ("Origin", second.url)],
            ) as ws:
                await ws.send(json.dumps({"type": "hello", "version": 1}))
                welcome = json.loads(await ws.recv())
                await asyncio.to_thread(
                    in_own_connection,
                    lambda: publish_through_http(first.url, requester, draft.pk),
                )
                announced = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                return welcome, announced

        welcome, announced = asyncio.run(scenario())
    finally:
        first.stop()
        second.stop()
    assert welcome["sets"] == []
    assert announced["type"] == "sets"
    assert announced["sets"][0]["id"] == draft.pk and announced["sets"][0]["available"] is True


def publish_through_http(base_url: str, requester, task_set_id: int) -> None:
    session = requests.Session()
    session.cookies.set("sessionid", session_cookie(requester))
    page = f"{base_url}/requester/sets/{task_set_id}/"
    assert session.get(page, timeout=10).status_code == 200
    response = session.post(
        f"{page}publish/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": page},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
