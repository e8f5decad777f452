"""Open WebSockets end with the sign-in they were opened with (4401): a sign-out closes
its session's sockets, a new password or a deactivated account every socket of the
user; over Redis when REDIS_URL is set, and across Daphne processes."""

import asyncio
import json

import pytest
import requests
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse

from marketplace.asgi import application
from tests.conftest import PASSWORD
from tests.daphne import DaphneProcess
from tests.marketplace.test_websocket import session_headers
from tests.work_client import login_over_http
from tests.work_helpers import vetted_workers

pytestmark = pytest.mark.django_db(transaction=True)

CLOSED = {"type": "websocket.close", "code": 4401}


async def open_socket(headers, path="/ws/work/"):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await communicator.connect()
    assert connected
    return communicator


async def still_open(communicator) -> bool:
    await communicator.send_json_to({"type": "ping"})
    return await communicator.receive_json_from(timeout=5) == {"type": "pong"}


def two_sessions(user):
    """The same worker signed in on two phones: two clients, two sessions."""
    phone, other_phone = Client(), Client()
    return (phone, session_headers(phone, user)), (other_phone, session_headers(other_phone, user))


def test_logging_out_closes_that_sessions_sockets_and_no_other(vetted_worker):
    (phone, headers), (_other, other_headers) = two_sessions(vetted_worker)

    async def scenario():
        work = await open_socket(headers)
        events = await open_socket(headers, "/ws/events/")
        other = await open_socket(other_headers)
        # The log-out button's form, as the shared phone posts it.
        response = await database_sync_to_async(phone.post)(reverse("account_logout"))
        closed = [await work.receive_output(timeout=5), await events.receive_output(timeout=5)]
        other_open = await still_open(other)
        await other.disconnect()
        return response.status_code, closed, other_open

    status, closed, other_open = async_to_sync(scenario)()
    assert status == 302
    assert closed == [CLOSED, CLOSED]
    assert other_open


def test_a_new_password_closes_every_socket_of_the_user(vetted_worker):
    (_phone, headers), (_other, other_headers) = two_sessions(vetted_worker)
    (bystander,) = vetted_workers(1, prefix="bystander")
    bystander_headers = session_headers(Client(), bystander)

    def change_password():
        vetted_worker.set_password("a-new-password-for-the-test")
        vetted_worker.save()

    async def scenario():
        sockets = [await open_socket(headers), await open_socket(other_headers)]
        bystander = await open_socket(bystander_headers)
        await database_sync_to_async(change_password)()
        closed = [await ws.receive_output(timeout=5) for ws in sockets]
        bystander_open = await still_open(bystander)
        await bystander.disconnect()
        return closed, bystander_open

    closed, bystander_open = async_to_sync(scenario)()
    assert closed == [CLOSED, CLOSED]
    assert bystander_open


def test_changing_the_password_through_the_account_page_closes_the_socket(vetted_worker):
    phone = Client()
    headers = session_headers(phone, vetted_worker)

    async def scenario():
        ws = await open_socket(headers)
        response = await database_sync_to_async(phone.post)(
            reverse("account_change_password"),
            {
                "oldpassword": PASSWORD,
                "password1": "Another-long-passphrase-42",
                "password2": "Another-long-passphrase-42",
            },
        )
        return response.status_code, await ws.receive_output(timeout=5)

    status, closed = async_to_sync(scenario)()
    assert status == 302
    assert closed == CLOSED


def test_deactivating_the_account_closes_its_sockets(vetted_worker):
    (_phone, headers), (_other, other_headers) = two_sessions(vetted_worker)

    def deactivate():
        vetted_worker.is_active = False
        vetted_worker.save(update_fields=["is_active"])

    async def scenario():
        sockets = [await open_socket(headers), await open_socket(other_headers, "/ws/events/")]
        await database_sync_to_async(deactivate)()
        return [await ws.receive_output(timeout=5) for ws in sockets]

    assert async_to_sync(scenario)() == [CLOSED, CLOSED]


def test_saving_other_fields_leaves_the_sockets_open(vetted_worker):
    headers = session_headers(Client(), vetted_worker)

    def edit_profile():
        vetted_worker.first_name = "Sokha"
        vetted_worker.save()  # every field, the password and is_active unchanged

    async def scenario():
        ws = await open_socket(headers)
        await database_sync_to_async(edit_profile)()
        nothing = await ws.receive_nothing(timeout=0.5)
        open_after = await still_open(ws)
        await ws.disconnect()
        return nothing, open_after

    assert async_to_sync(scenario)() == (True, True)


@pytest.mark.redis
def test_a_logout_served_by_one_daphne_closes_the_socket_held_by_another(vetted_worker):
    if not settings.REDIS_URL:
        pytest.skip("two processes share events only through Redis (REDIS_URL)")
    first = DaphneProcess().start()
    second = DaphneProcess().start()
    try:
        cookie = login_over_http(first.url, vetted_worker.username, PASSWORD)

        async def scenario():
            from websockets.asyncio.client import connect
            from websockets.exceptions import ConnectionClosed

            async with connect(
                second.url.replace("http", "ws") + "/ws/work/",
                additional_headers=[("Cookie", f"sessionid={cookie}"), ("Origin", second.url)],
            ) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                pong = json.loads(await ws.recv())
                await asyncio.to_thread(log_out_over_http, first.url, cookie)
                try:
                    await asyncio.wait_for(ws.recv(), timeout=10)
                except ConnectionClosed as closed:
                    return pong, closed.rcvd.code
                return pong, None

        pong, code = asyncio.run(scenario())
    finally:
        first.stop()
        second.stop()
    assert pong == {"type": "pong"}
    assert code == 4401


def log_out_over_http(base_url: str, cookie: str) -> None:
    session = requests.Session()
    session.cookies.set("sessionid", cookie)
    home = f"{base_url}/"
    assert session.get(home, timeout=10).status_code == 200
    logout = f"{base_url}/accounts/logout/"
    response = session.post(
        logout,
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": home},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
