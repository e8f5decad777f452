"""Where work happens: every browser gets a device cookie; work sockets and HTTP work
leave presence rows with the device and the client's address (behind trusted proxies,
the forwarded one), which the duplicate-account and two-places signals read."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from marketplace import presence
from marketplace.asgi import application
from marketplace.models import WorkerPresence
from tests.marketplace.test_websocket import session_headers
from tests.work_helpers import published_set

DEVICE = "0123456789abcdef0123456789abcdef"


@pytest.mark.django_db
def test_a_browser_gets_one_long_lived_device_cookie(client):
    first = client.get(reverse("home"))
    cookie = first.cookies[presence.DEVICE_COOKIE]
    assert len(cookie.value) == 32 and cookie["httponly"] and cookie["max-age"] > 3e7
    assert presence.DEVICE_COOKIE not in client.get(reverse("home")).cookies  # kept


@pytest.mark.django_db
def test_http_work_extends_one_presence_per_device_and_address(client, vetted_worker):
    client.force_login(vetted_worker)
    client.cookies[presence.DEVICE_COOKIE] = DEVICE
    client.get(reverse("work_page"), REMOTE_ADDR="198.51.100.7")
    client.get(reverse("work_page"), REMOTE_ADDR="198.51.100.7")
    client.get(reverse("work_page"), REMOTE_ADDR="192.0.2.9")  # moved to mobile data
    rows = list(
        WorkerPresence.objects.filter(worker=vetted_worker)
        .order_by("pk")
        .values_list("device_id", "ip_address", "channel")
    )
    assert rows == [(DEVICE, "198.51.100.7", "http"), (DEVICE, "192.0.2.9", "http")]


@pytest.mark.django_db
def test_a_forged_device_cookie_is_not_stored(client, vetted_worker):
    client.force_login(vetted_worker)
    client.cookies[presence.DEVICE_COOKIE] = "'; drop table --"
    response = client.get(reverse("work_page"))
    assert WorkerPresence.objects.get(worker=vetted_worker).device_id == ""
    assert len(response.cookies[presence.DEVICE_COOKIE].value) == 32  # a fresh one


def test_the_forwarded_address_counts_only_behind_trusted_proxies(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    assert presence.client_address("10.0.0.1", "203.0.113.5") == "10.0.0.1"
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    assert presence.client_address("10.0.0.1", "1.2.3.4, 203.0.113.5") == "203.0.113.5"
    assert presence.client_address("10.0.0.1", "not-an-address") is None


@pytest.mark.django_db(transaction=True)
def test_a_work_socket_records_its_device_and_address(client, vetted_worker, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1  # behind one proxy, which names the client
    session_cookie, origin = session_headers(client, vetted_worker)
    # One Cookie header, as a browser sends it.
    headers = [
        (b"cookie", session_cookie[1] + f"; {presence.DEVICE_COOKIE}={DEVICE}".encode()),
        origin,
        (b"x-forwarded-for", b"198.51.100.44"),
    ]

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/work/", headers=headers)
        connected, _code = await ws.connect()
        await ws.disconnect()
        return connected

    assert async_to_sync(scenario)()
    row = WorkerPresence.objects.get(worker=vetted_worker)
    assert (row.device_id, row.channel) == (DEVICE, "socket")
    assert row.ip_address == "198.51.100.44"


@pytest.mark.django_db
def test_api_clients_and_health_probes_get_no_device_cookie(client):
    assert presence.DEVICE_COOKIE not in client.get("/healthz").cookies
    assert presence.DEVICE_COOKIE not in client.get("/api/v1/task-sets/").cookies


@pytest.mark.django_db
def test_instructions_and_images_record_no_presence(
    client, vetted_worker, requester_org, requester, admin_user
):
    task_set = published_set(organization=requester_org, requester=requester, admin=admin_user)
    client.force_login(vetted_worker)
    assert client.get(reverse("work_instructions", args=[task_set.pk])).status_code == 200
    assert not WorkerPresence.objects.filter(worker=vetted_worker).exists()


@pytest.mark.django_db
def test_a_presence_that_cannot_be_written_never_refuses_the_socket(vetted_worker, monkeypatch):
    from django.db import OperationalError

    def locked(**fields):
        raise OperationalError("database is locked")

    monkeypatch.setattr(WorkerPresence.objects, "create", locked)
    presence_id = presence.open_socket_presence(
        worker_id=vetted_worker.pk, device_id=DEVICE, ip_address="198.51.100.1"
    )
    assert presence_id is None
    presence.touch_presence(presence_id)  # nothing to stamp, and no error
    assert not WorkerPresence.objects.exists()
