"""What a phone pays for a page: every byte a real Daphne sends for the page and its
CSS and JS (status lines, headers and bodies as they cross the wire, with a browser's
Accept-Encoding), in production settings and in `make run`'s (DEBUG, static files
from static/)."""

import gzip
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.urls import reverse

from tests.daphne import running_daphne
from tests.work_helpers import published_set

pytestmark = pytest.mark.django_db(transaction=True)

PAGE_BUDGET_BYTES = 15 * 1024  # down the wire, cold cache: HTML + CSS + JS, headers included
BROWSER_ACCEPT_ENCODING = "gzip, deflate, br, zstd"  # what Chromium sends


@dataclass
class WireResponse:
    status: int
    headers: dict[str, str]
    body: bytes  # decoded: de-chunked and decompressed
    bytes_down: int  # as received, everything


def fetch(base_url: str, path: str, cookie: str = "") -> WireResponse:
    """One HTTP/1.1 GET on its own connection, counting the bytes received."""
    parsed = urlparse(base_url)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
        f"Accept-Encoding: {BROWSER_ACCEPT_ENCODING}\r\nConnection: close\r\n"
        + (f"Cookie: sessionid={cookie}\r\n" if cookie else "")
        + "\r\n"
    )
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _sep, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _colon, value in (line.partition(":") for line in header_lines)
    }
    if headers.get("transfer-encoding") == "chunked":
        body = dechunked(body)
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return WireResponse(int(status_line.split()[1]), headers, body, len(received))


def dechunked(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _sep, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def page_with_assets(base_url: str, path: str, cookie: str = "") -> list[WireResponse]:
    page = fetch(base_url, path, cookie)
    assert page.status == 200, (path, page.status)
    assets = re.findall(rb'(?:href|src)="(/static/[^"]+\.(?:css|js))"', page.body)
    assert assets, "the page links its CSS and JS"
    return [page] + [fetch(base_url, asset.decode()) for asset in assets]


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org, requester=requester, admin=admin_user, regular=3, gold=5
    )


@pytest.fixture(params=["production", "make run"])
def server(request):
    extra = {"DEBUG": "true"} if request.param == "make run" else {}
    with running_daphne(**extra) as url:
        yield url


def test_pages_and_their_static_files_come_compressed(server, vetted_worker, animals):
    responses = page_with_assets(server, reverse("work_page"), session_cookie(vetted_worker))
    for response in responses:
        assert response.status == 200
        assert response.headers.get("content-encoding") == "gzip", response.headers
        assert "accept-encoding" in response.headers.get("vary", "").lower()


@pytest.mark.parametrize("page", ["home", "worker_home", "work_page", "quality_page"])
def test_a_cold_page_costs_at_most_15_kb_down_the_wire(server, vetted_worker, animals, page):
    cookie = "" if page == "home" else session_cookie(vetted_worker)
    responses = page_with_assets(server, reverse(page), cookie)
    total = sum(response.bytes_down for response in responses)
    assert total <= PAGE_BUDGET_BYTES, [(r.bytes_down, len(r.body)) for r in responses]


def test_a_page_showing_a_new_api_key_is_never_compressed(client, requester, requester_org):
    # BREACH guesses a secret from the length of compressed responses that also reflect
    # the attacker's input; this page shows a secret (the key), so it is sent as is.
    client.force_login(requester)
    assert (
        client.get(reverse("requester_home"), HTTP_ACCEPT_ENCODING="gzip").headers.get(
            "Content-Encoding"
        )
        == "gzip"
    )
    response = client.post(
        reverse("api_key_create", args=[requester_org.slug]),
        {"name": "ci"},
        HTTP_ACCEPT_ENCODING="gzip",
    )
    assert response.status_code == 200 and b"mk_" in response.content
    assert "Content-Encoding" not in response.headers
