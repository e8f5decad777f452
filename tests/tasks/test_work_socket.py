"""/ws/work/ through the real ASGI application: who may connect, bad input, the
claim → submit round trip, and events pushed after commit."""

import asyncio
import json
import uuid

import psycopg
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from marketplace import services as vetting
from marketplace.asgi import application
from tasks import services, work, work_async, work_pg
from tasks.models import Assignment
from tests.marketplace.test_websocket import session_headers
from tests.work_helpers import published_set, vetted_workers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=4,
        gold=5,
        assignments_per_task=1,
        gold_ratio_permille=500,
    )


def run(scenario):
    return async_to_sync(scenario)()


async def connect(headers):
    communicator = WebsocketCommunicator(application, "/ws/work/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


def test_anonymous_and_unvetted_users_are_refused(client, applicant):
    headers = session_headers(client, applicant)

    async def scenario():
        anonymous = await connect([(b"origin", b"http://testserver")])
        unvetted = await connect(headers)
        return anonymous[1:], unvetted[1:]

    assert run(scenario) == ((False, 4401), (False, 4403))


def test_a_foreign_origin_is_refused(client, vetted_worker):
    headers = session_headers(client, vetted_worker, b"https://evil.example")

    async def scenario():
        return (await connect(headers))[1]

    assert run(scenario) is False


def test_bad_messages_get_an_error_and_the_connection_stays_open(client, vetted_worker, settings):
    settings.WORK_WS_MAX_MESSAGE_BYTES = 2048

    headers = session_headers(client, vetted_worker)

    async def scenario():
        ws, connected, _ = await connect(headers)
        assert connected
        replies = []
        for raw in ["{not json", "[1, 2]", json.dumps({"type": "fly"}), "x" * 9000]:
            await ws.send_to(text_data=raw)
            replies.append(await ws.receive_json_from(timeout=5))
        await ws.send_to(bytes_data=b"\x00\x01")
        replies.append(await ws.receive_json_from(timeout=5))
        await ws.send_json_to({"type": "submit", "assignment": "seven"})
        replies.append(await ws.receive_json_from(timeout=5))
        await ws.send_json_to({"type": "ping"})
        replies.append(await ws.receive_json_from(timeout=5))
        await ws.disconnect()
        return replies

    replies = run(scenario)
    assert [r.get("code") for r in replies[:-1]] == [
        "bad_json",
        "bad_message",
        "unknown_type",
        "too_large",
        "bad_message",
        "bad_message",
    ]
    assert all(r["type"] == "error" and r["message"] for r in replies[:-1])
    assert replies[-1] == {"type": "pong"}


def test_messages_beyond_the_rate_are_refused_not_dropped_silently(client, vetted_worker, settings):
    settings.WORK_WS_BURST = 3
    settings.WORK_WS_RATE_PER_SECOND = 1

    headers = session_headers(client, vetted_worker)

    async def scenario():
        ws, _, _ = await connect(headers)
        for _ in range(5):
            await ws.send_json_to({"type": "ping"})
        replies = [await ws.receive_json_from(timeout=5) for _ in range(5)]
        await ws.disconnect()
        return [r.get("code", r["type"]) for r in replies]

    assert run(scenario) == ["pong", "pong", "pong", "rate_limited", "rate_limited"]


def test_claim_answer_and_next_task_in_one_round_trip(client, vetted_worker, animals):
    headers = session_headers(client, vetted_worker)

    async def scenario():
        ws, _, _ = await connect(headers)
        await ws.send_json_to({"type": "hello", "version": 1, "auto_next": True})
        welcome = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "claim"})
        task = await ws.receive_json_from(timeout=5)
        submission_id = str(uuid.uuid4())
        submit = {
            "type": "submit",
            "assignment": task["assignment"],
            "answer": "cat",
            "submission_id": submission_id,
            "seconds": 9,
        }
        await ws.send_json_to(submit)
        submitted = await ws.receive_json_from(timeout=5)
        following = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({**submit, "next": False})  # a resend: same answer, nothing new
        resent = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return welcome, task, submitted, following, resent

    welcome, task, submitted, following, resent = run(scenario)
    assert welcome["type"] == "welcome" and welcome["assignment"] is None
    assert [s["id"] for s in welcome["sets"]] == [animals.pk]
    assert task["type"] == "task" and task["options"] == ["cat", "dog", "bird"]
    assert task["reward"] == {"minor": 5, "currency": "USD", "display": "0.05 USD"}
    assert submitted["type"] == "submitted" and submitted["assignment"] == task["assignment"]
    assert following["type"] == "task" and following["assignment"] != task["assignment"]
    assert resent == submitted
    assert Assignment.objects.filter(status="submitted").count() == 1


def test_nothing_on_the_wire_tells_gold_from_regular(
    client, vetted_worker, requester_org, requester, admin_user, settings
):
    # ~32 messages as fast as the server answers: past the per-socket burst, whose
    # refusal is not what this test is about.
    settings.WORK_WS_BURST = 100
    # 20 regular tasks at a 50% gold ratio: the chance of no gold at all is 1 in 10^6.
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=20,
        gold=10,
        assignments_per_task=1,
        gold_ratio_permille=500,
    )
    headers = session_headers(client, vetted_worker)

    async def scenario():
        ws, _, _ = await connect(headers)
        raw = []
        await ws.send_json_to({"type": "hello", "auto_next": True})
        raw.append(await ws.receive_from(timeout=5))
        await ws.send_json_to({"type": "claim"})
        while True:
            message = await ws.receive_from(timeout=5)
            raw.append(message)
            parsed = json.loads(message)
            if parsed["type"] != "task":
                break
            await ws.send_json_to(
                {
                    "type": "submit",
                    "assignment": parsed["assignment"],
                    "answer": "dog",
                    "submission_id": str(uuid.uuid4()),
                }
            )
            raw.append(await ws.receive_from(timeout=5))  # submitted
        await ws.disconnect()
        return raw

    raw = run(scenario)
    tasks = [json.loads(m) for m in raw if json.loads(m)["type"] == "task"]
    assert max(len(m.encode()) for m in raw if '"type":"task"' in m) < 2048  # per-task budget
    gold_ids = set(Assignment.objects.filter(is_gold=True).values_list("pk", flat=True))
    assert gold_ids, "the scenario served some gold"
    assert {frozenset(t) for t in tasks} == {frozenset(tasks[0])}  # the same fields, always
    for message in raw:
        assert "gold" not in message.lower() and "SECRET-EXPLANATION" not in message
        assert '"cat"' not in message.split('"options"')[0]  # no answer before the options


def test_pausing_revokes_the_open_claim_on_the_socket(client, vetted_worker, requester, animals):
    headers = session_headers(client, vetted_worker)

    async def scenario():
        ws, _, _ = await connect(headers)
        await ws.send_json_to({"type": "claim"})
        task = await ws.receive_json_from(timeout=5)
        await database_sync_to_async(services.pause_task_set)(
            task_set_id=animals.pk, actor=requester
        )
        messages = [await ws.receive_json_from(timeout=5) for _ in range(2)]
        await ws.disconnect()
        return task, messages

    task, messages = run(scenario)
    by_type = {m["type"]: m for m in messages}
    assert by_type["revoked"] == {
        "type": "revoked",
        "assignment": task["assignment"],
        "reason": "set_paused",
    }
    assert by_type["sets"]["sets"][0]["available"] is False


def test_publishing_is_announced_to_connected_workers(
    client, vetted_worker, requester_org, requester, admin_user
):
    headers = session_headers(client, vetted_worker)

    async def scenario():
        ws, _, _ = await connect(headers)
        task_set = await database_sync_to_async(published_set)(
            organization=requester_org, requester=requester, admin=admin_user, title="New work"
        )
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return task_set, message

    task_set, message = run(scenario)
    assert message["type"] == "sets"
    assert message["sets"] == [
        {
            "id": task_set.pk,
            "title": "New work",
            "kind": "label",
            "reward": {"minor": 5, "currency": "USD", "display": "0.05 USD"},
            "available": True,
            "training": False,
        }
    ]


def test_suspending_a_worker_withdraws_claims_and_closes_the_socket(
    client, vetted_worker, admin_user, animals
):
    headers = session_headers(client, vetted_worker)

    async def scenario():
        ws, _, _ = await connect(headers)
        await ws.send_json_to({"type": "claim"})
        task = await ws.receive_json_from(timeout=5)
        await database_sync_to_async(vetting.decide_application)(
            profile_id=vetted_worker.worker_profile.pk,
            actor=admin_user,
            action="suspend",
            reason="Investigating copied answers",
        )
        messages = [await ws.receive_json_from(timeout=5) for _ in range(2)]
        closed = await ws.receive_output(timeout=5)
        return task, messages, closed

    task, messages, closed = run(scenario)
    assert messages[0] == {
        "type": "revoked",
        "assignment": task["assignment"],
        "reason": "worker_suspended",
    }
    assert messages[1]["code"] == "account_suspended"
    assert closed == {"type": "websocket.close", "code": 4403}
    assert Assignment.objects.get(pk=task["assignment"]).status == "released"


def test_the_requesters_set_page_hears_progress_and_outsiders_do_not(
    client, requester, outsider, vetted_worker, animals
):
    from tasks import work

    requester_headers = session_headers(client, requester)
    outsider_headers = session_headers(Client(), outsider)

    def claim_and_answer():
        assignment = work.claim_next_task(worker=vetted_worker).assignment
        work.submit_answer(
            worker=vetted_worker,
            assignment_id=assignment.pk,
            answer="dog",
            submission_id=uuid.uuid4(),
            seconds_spent=4,
        )

    async def scenario():
        mine = WebsocketCommunicator(application, "/ws/events/", headers=requester_headers)
        theirs = WebsocketCommunicator(application, "/ws/events/", headers=outsider_headers)
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        await database_sync_to_async(claim_and_answer)()
        progress = await mine.receive_json_from(timeout=5)
        outsider_heard = not await theirs.receive_nothing(timeout=0.5)
        await mine.disconnect()
        await theirs.disconnect()
        return progress, outsider_heard

    progress, outsider_heard = run(scenario)
    assert progress == {
        "type": "progress",
        "task_set": animals.pk,
        "status": "published",
        "submitted": Assignment.objects.filter(is_gold=False, status="submitted").count(),
        "needed": 4,
        "tasks_done": progress["submitted"],
        "tasks_total": 4,
    }
    assert outsider_heard is False


def test_progress_inside_the_second_arrives_once_at_its_end_with_the_last_numbers(
    client, requester, requester_org, admin_user, vetted_worker
):
    from tasks import work

    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=4,
        gold=5,
        assignments_per_task=1,
        gold_ratio_permille=0,  # every answer counts in "submitted"
    )
    headers = session_headers(client, requester)

    def claim_and_answer():
        assignment = work.claim_next_task(worker=vetted_worker).assignment
        work.submit_answer(
            worker=vetted_worker,
            assignment_id=assignment.pk,
            answer="dog",
            submission_id=uuid.uuid4(),
        )

    async def scenario():
        page = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        assert (await page.connect())[0]
        for _ in range(3):  # well inside one second: throttled after the first
            await database_sync_to_async(claim_and_answer)()
        heard = [await page.receive_json_from(timeout=5)]
        while heard[-1]["submitted"] < 3:
            heard.append(await page.receive_json_from(timeout=5))
        quiet_after = await page.receive_nothing(timeout=1.5)
        await page.disconnect()
        return heard, quiet_after

    heard, quiet_after = run(scenario)
    assert len(heard) <= 2  # the first at once (if its second was free), then one
    assert heard[-1]["submitted"] == 3 and heard[-1]["tasks_done"] == 3
    assert quiet_after


def test_wrong_types_get_errors_and_refusals_name_the_message(client, vetted_worker, settings):
    settings.WORK_WS_MAX_MESSAGE_BYTES = 1024
    headers = session_headers(client, vetted_worker)
    submission_id = str(uuid.uuid4())

    async def scenario():
        ws, _, _ = await connect(headers)
        replies = []
        for message in (
            {"type": ["claim"]},
            {"type": "hello", "lang": ["km"]},
            {
                "type": "submit",
                "assignment": 1,
                "submission_id": submission_id,
                "answer": "x" * 2000,
            },
        ):
            await ws.send_json_to(message)
            replies.append(await ws.receive_json_from(timeout=5))
        await ws.send_json_to({"type": "ping"})
        replies.append(await ws.receive_json_from(timeout=5))
        await ws.disconnect()
        return replies

    unknown, welcome, too_large, pong = run(scenario)
    assert unknown["code"] == "unknown_type"
    assert welcome["type"] == "welcome"  # an unusable lang is ignored
    assert (too_large["code"], too_large["submission_id"], too_large["assignment"]) == (
        "too_large",
        submission_id,
        1,
    )
    assert pong == {"type": "pong"}


def test_integers_beyond_the_databases_range_get_an_error_and_the_socket_stays_open(
    client, vetted_worker, animals, settings
):
    settings.WORK_WS_BURST = 100
    headers = session_headers(client, vetted_worker)
    huge = 2**64

    async def scenario():
        ws, _, _ = await connect(headers)
        await ws.send_json_to({"type": "claim"})
        task = await ws.receive_json_from(timeout=5)
        answer = {
            "type": "submit",
            "assignment": task["assignment"],
            "answer": "cat",
            "submission_id": str(uuid.uuid4()),
            "next": False,
        }
        refused = []
        for message in (
            {"type": "claim", "set": huge},
            {"type": "claim", "set": -huge},
            {"type": "claim", "set": 0},
            {**answer, "assignment": huge},
            {**answer, "assignment": -huge},
            {**answer, "seconds": huge},
            {**answer, "seconds": 2**31},  # past PostgreSQL's integer, within bigint
            {"type": "release", "assignment": huge},
            {"type": "hello", "version": huge},
        ):
            await ws.send_json_to(message)
            refused.append(await ws.receive_json_from(timeout=5))
        # The same socket still works: the held task is resent, then answered.
        await ws.send_json_to({"type": "claim", "set": animals.pk})
        resent = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({**answer, "seconds": 9})
        submitted = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return task, refused, resent, submitted

    task, refused, resent, submitted = run(scenario)
    assert [r["type"] for r in refused] == ["error"] * 9
    assert [r["code"] for r in refused[:-1]] == ["bad_message"] * 8
    assert refused[-1]["code"] == "unsupported_version"
    assert refused[3]["assignment"] == 2**64  # the refusal names the message it refuses
    assert all(r["message"] for r in refused)
    assert resent["assignment"] == task["assignment"]
    assert submitted["type"] == "submitted"
    assignment = Assignment.objects.get(pk=task["assignment"])
    assert (assignment.status, assignment.seconds_spent) == ("submitted", 9)


def test_a_trainee_gets_feedback_and_the_sets_change_when_they_qualify(
    client, requester_org, requester, admin_user, animals
):
    from tests.work_helpers import vetted_workers

    training = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Training",
        regular=0,
        gold=12,
        is_training=True,
        training_answer_budget=50,
    )
    [trainee] = vetted_workers(1, prefix="trainee", qualified=False)
    headers = session_headers(Client(), trainee)

    async def scenario():
        ws, _, _ = await connect(headers)
        await ws.send_json_to({"type": "hello", "version": 1, "auto_next": True})
        welcome = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "claim"})
        task = await ws.receive_json_from(timeout=5)
        replies = []
        for _ in range(10):
            await ws.send_json_to(
                {
                    "type": "submit",
                    "assignment": task["assignment"],
                    "answer": "cat",
                    "submission_id": str(uuid.uuid4()),
                }
            )
            batch = [await ws.receive_json_from(timeout=5) for _ in range(3)]
            replies.append(batch)
            task = batch[-1]
        await ws.disconnect()
        return welcome, replies

    welcome, replies = run(scenario)
    assert [entry["id"] for entry in welcome["sets"]] == [training.pk]
    submitted, sets, _next = replies[0]
    assert submitted["feedback"] == {
        "correct": True,
        "credit_permille": 1000,
        "right_answer": "cat",
        "explanation": "SECRET-EXPLANATION",
    }
    # The tenth answer qualifies: training closes, paid work opens, and comes next.
    submitted, sets, next_task = replies[-1]
    availability = {entry["id"]: entry["available"] for entry in sets["sets"]}
    assert availability == {training.pk: False, animals.pk: True}
    assert next_task["type"] == "task" and next_task["set"]["id"] == animals.pk


@pytest.mark.skipif(not work_async.in_event_loop(), reason="the event-loop path is PostgreSQL's")
def test_a_database_connection_ended_under_the_socket_costs_a_retry_not_the_answer(
    client, vetted_worker, animals
):
    """A database restart ends the pooled connections: the next claim and answer are
    made again on new ones, and the socket stays open."""
    headers = session_headers(client, vetted_worker)

    def end_connections(backends):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", [backends])

    async def scenario():
        ws, _, _ = await connect(headers)
        await ws.send_json_to({"type": "hello", "version": 1})
        await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "claim"})
        first = await ws.receive_json_from(timeout=5)
        pool = await work_async._pool()
        await database_sync_to_async(end_connections)(sorted(pool.backends))
        await ws.send_json_to({"type": "claim"})  # the held claim, over a new connection
        again = await ws.receive_json_from(timeout=5)
        await database_sync_to_async(end_connections)(sorted(pool.backends))
        submission_id = str(uuid.uuid4())
        await ws.send_json_to(
            {"type": "submit", "assignment": again["assignment"], "answer": "cat",
             "submission_id": submission_id}
        )  # fmt: skip
        submitted = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return first, again, submitted, submission_id

    first, again, submitted, submission_id = run(scenario)
    assert first["type"] == "task" and again["assignment"] == first["assignment"]
    assert submitted["type"] == "submitted" and submitted["submission_id"] == submission_id
    assert Assignment.objects.get(pk=first["assignment"]).status == "submitted"


@pytest.mark.skipif(not work_async.in_event_loop(), reason="the event-loop path is PostgreSQL's")
def test_calls_made_together_share_a_write_and_each_commits_or_fails_alone(
    animals, settings, monkeypatch
):
    """Calls made together go to PostgreSQL in one write, yet each is its own
    transaction: an answer refused for reusing a submission_id fails alone, and the
    answers beside it in the same write are committed."""
    settings.WORK_DB_PIPELINES = 1
    workers = vetted_workers(3)
    writes = []
    send = work_async._send

    async def counted(calls):
        writes.append(len(calls))
        return await send(calls)

    monkeypatch.setattr(work_async, "_send", counted)

    async def scenario():
        claims = await asyncio.gather(
            *(work_async.claim(worker_id=w.pk, task_set_id=animals.pk) for w in workers)
        )
        reused = uuid.uuid4()
        answers = await asyncio.gather(
            *(
                work_async.submit(
                    worker_id=worker.pk,
                    assignment_id=claim.assignment.pk,
                    answer="cat",
                    submission_id=reused if i < 2 else uuid.uuid4(),
                    seconds_spent=5,
                )
                for i, (worker, claim) in enumerate(zip(workers, claims, strict=True))
            ),
            return_exceptions=True,
        )
        return claims, answers

    claims, answers = run(scenario)
    # A pipeline sets off on the loop's next turn: calls made on one turn go together.
    assert writes == [3, 3]
    first, second, third = answers
    assert first.assignment.status == "submitted" and third.assignment.status == "submitted"
    assert isinstance(second, work.WorkError) and second.code == "duplicate_submission_id"
    stored = {a.pk: a.status for a in Assignment.objects.filter(worker__in=workers)}
    assert stored == {
        claims[0].assignment.pk: "submitted",
        claims[1].assignment.pk: "active",  # rolled back alone
        claims[2].assignment.pk: "submitted",
    }


@pytest.mark.skipif(not work_async.in_event_loop(), reason="the event-loop path is PostgreSQL's")
def test_a_call_whose_parameters_cannot_be_sent_fails_alone(animals, vetted_worker):
    """It is left out of the write it shared; the claim beside it is made."""

    async def scenario():
        return await asyncio.gather(
            work_async._call(work_pg.CLAIM_SQL, [object(), None, 1]),
            work_async.claim(worker_id=vetted_worker.pk, task_set_id=animals.pk),
            return_exceptions=True,
        )

    unsendable, claim = run(scenario)
    assert isinstance(unsendable, psycopg.ProgrammingError)
    assert claim.assignment is not None
    assert Assignment.objects.get(worker=vetted_worker).pk == claim.assignment.pk
