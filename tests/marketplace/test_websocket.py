"""The WebSocket route through the real ASGI application: origin check, session
authentication, and a vetting decision pushed to the worker's open socket after
commit (over Redis when REDIS_URL is set, as in CI)."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from marketplace import services
from marketplace.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def session_headers(client, user, origin: bytes = b"http://testserver"):
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"cookie", cookie.encode()), (b"origin", origin)]


def test_anonymous_socket_is_refused():
    async def scenario():
        communicator = WebsocketCommunicator(
            application, "/ws/events/", headers=[(b"origin", b"http://testserver")]
        )
        connected, code = await communicator.connect()
        return connected, code

    assert async_to_sync(scenario)() == (False, 4401)


def test_foreign_origin_is_refused(client, vetted_worker):
    headers = session_headers(client, vetted_worker, origin=b"https://evil.example")

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _code = await communicator.connect()
        return connected

    assert async_to_sync(scenario)() is False


def test_decision_reaches_the_workers_open_socket(client, admin_user, applicant):
    headers = session_headers(client, applicant)
    profile_id = applicant.worker_profile.pk

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _code = await communicator.connect()
        assert connected
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "nonsense"})
        error = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(services.decide_application)(
            profile_id=profile_id,
            actor=admin_user,
            action="approve",
            reason="Welcome aboard",
        )
        event = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return pong, error, event

    pong, error, event = async_to_sync(scenario)()
    assert pong == {"type": "pong"}
    assert error["type"] == "error"
    assert event["type"] == "notification"
    assert event["worker_status"] == "vetted"
    assert event["worker_status_label"] == "Vetted"
    assert "Welcome aboard" in event["body"]


def test_bad_frames_get_an_error_and_the_socket_stays_open(client, vetted_worker):
    headers = session_headers(client, vetted_worker)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _code = await communicator.connect()
        assert connected
        replies = []
        for frame in ({"text_data": "{not json"}, {"bytes_data": b"\x00\x01"}):
            await communicator.send_to(**frame)
            replies.append(await communicator.receive_json_from(timeout=5))
        for content in ([1, 2], "ping", 42, None):
            await communicator.send_json_to(content)
            replies.append(await communicator.receive_json_from(timeout=5))
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return replies, pong

    replies, pong = async_to_sync(scenario)()
    assert [reply["code"] for reply in replies] == [
        "invalid_json",
        "binary_frame",
        "not_an_object",
        "not_an_object",
        "not_an_object",
        "not_an_object",
    ]
    assert all(reply["type"] == "error" and reply["message"] for reply in replies)
    assert pong == {"type": "pong"}


def test_rolled_back_decision_sends_nothing(client, admin_user, applicant):
    headers = session_headers(client, applicant)
    profile_id = applicant.worker_profile.pk

    def decide_then_fail():
        from django.db import transaction

        try:
            with transaction.atomic():
                services.decide_application(
                    profile_id=profile_id, actor=admin_user, action="approve", reason="r"
                )
                raise RuntimeError("later step failed")
        except RuntimeError:
            pass

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _code = await communicator.connect()
        assert connected
        await database_sync_to_async(decide_then_fail)()
        nothing = await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return nothing

    assert async_to_sync(scenario)() is True
    applicant.worker_profile.refresh_from_db()
    assert applicant.worker_profile.status == "applied"


def _rejection_heard_by(client, admin_user, applicant, language: str) -> dict:
    """The notification a socket opened from a page in `language` hears."""
    headers = session_headers(client, applicant)
    cookie = dict(headers)[b"cookie"] + f"; {settings.LANGUAGE_COOKIE_NAME}={language}".encode()
    headers = [(b"cookie", cookie), (b"origin", b"http://testserver")]
    profile_id = applicant.worker_profile.pk

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _code = await communicator.connect()
        assert connected
        await database_sync_to_async(services.decide_application)(
            profile_id=profile_id, actor=admin_user, action="reject", reason="r"
        )
        event = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return event

    return async_to_sync(scenario)()


def test_event_speaks_the_language_of_the_page_not_the_one_stored(client, admin_user, applicant):
    applicant.preferred_language = "en"
    applicant.save(update_fields=["preferred_language"])
    event = _rejection_heard_by(client, admin_user, applicant, "km")
    assert event["worker_status_label"] == "បានបដិសេធ"
    assert event["subject"] == "ពាក្យស្នើសុំរបស់អ្នកមិនត្រូវបានអនុម័តទេ"
    assert "params" not in event


def test_event_in_english_for_an_english_page_whatever_the_stored_language(
    client, admin_user, applicant
):
    applicant.preferred_language = "km"
    applicant.save(update_fields=["preferred_language"])
    event = _rejection_heard_by(client, admin_user, applicant, "en")
    assert event["worker_status_label"] == "Rejected"
    assert event["subject"] == "Your application was not approved"
    assert event["body"] == "Your application was not approved. Reason: r"
