"""Which pages may open the WebSockets: the Origin compared whole (scheme, host, port)
with the site's own origin or WEBSOCKET_ALLOWED_ORIGINS, through the real ASGI app."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from marketplace.asgi import application
from marketplace.origins import normalized_origin
from tests.marketplace.test_websocket import session_headers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(settings):
    """The site as production names it: its hosts, and no other page allowed."""
    settings.ALLOWED_HOSTS = ["localhost", "work.example.org"]
    settings.WEBSOCKET_ALLOWED_ORIGINS = []
    return settings


@pytest.fixture
def cookie(client, vetted_worker):
    (cookie_header, _origin) = session_headers(client, vetted_worker)
    return cookie_header


def opens(
    cookie, host: str, origin: str | None, *, forwarded_proto: str | None = None, scheme="ws"
) -> bool:
    headers = [cookie, (b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if forwarded_proto is not None:
        headers.append((b"x-forwarded-proto", forwarded_proto.encode()))

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        communicator.scope["scheme"] = scheme
        connected, _code = await communicator.connect()
        if connected:
            await communicator.disconnect()
        return connected

    return async_to_sync(scenario)()


def test_a_page_on_another_port_of_the_same_host_is_refused(site, cookie):
    assert opens(cookie, "localhost:8000", "http://localhost:8000") is True
    assert opens(cookie, "localhost:8000", "http://localhost:9999") is False
    assert opens(cookie, "localhost:8000", "http://localhost") is False


def test_the_scheme_must_be_the_one_the_site_is_served_on(site, cookie):
    # Behind a TLS proxy (X-Forwarded-Proto, as SECURE_PROXY_SSL_HEADER reads it).
    assert opens(cookie, "work.example.org", "https://work.example.org", forwarded_proto="https")
    assert not opens(cookie, "work.example.org", "http://work.example.org", forwarded_proto="https")
    # Served over plain http: an https page is another origin.
    assert not opens(cookie, "work.example.org", "https://work.example.org")
    # Daphne serving TLS itself (wss), or told the scheme by --proxy-headers.
    for scheme in ("wss", "https"):
        assert opens(cookie, "work.example.org", "https://work.example.org", scheme=scheme)
        assert not opens(cookie, "work.example.org", "http://work.example.org", scheme=scheme)


def test_a_host_the_site_does_not_answer_to_is_refused_even_as_its_own_origin(site, cookie):
    # DNS rebinding: the attacker's name pointed at the server, page and socket alike.
    assert not opens(cookie, "attacker.example:8000", "http://attacker.example:8000")


def test_configured_origins_must_match_exactly(site, cookie):
    site.WEBSOCKET_ALLOWED_ORIGINS = ["https://work.example.org"]
    internal = "10.0.0.5:8000"  # a proxy that rewrites Host: only the list can allow
    assert opens(cookie, internal, "https://work.example.org") is True
    assert opens(cookie, internal, "https://WORK.example.org:443") is True
    assert opens(cookie, internal, "https://work.example.org:8443") is False
    assert opens(cookie, internal, "http://work.example.org") is False
    assert opens(cookie, internal, "https://evil.work.example.org") is False
    assert opens(cookie, internal, "https://work.example.org.evil.example") is False


def test_a_handshake_without_an_origin_is_refused(site, cookie):
    assert opens(cookie, "localhost:8000", None) is False
    assert opens(cookie, "localhost:8000", "null") is False


def test_origins_are_compared_with_their_default_ports_written():
    assert normalized_origin("HTTPS://Work.Example.org") == "https://work.example.org:443"
    assert normalized_origin("http://localhost:8000/") == "http://localhost:8000"
    assert normalized_origin("http://[::1]:8000") == "http://[::1]:8000"
    for bad in ("null", "ws://localhost", "http://localhost:99999", "http://a@b", "//host"):
        assert normalized_origin(bad) is None
