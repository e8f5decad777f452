"""Which pages may open this site's WebSockets: the browser's Origin header, compared
whole (scheme, host and port) with the site's own origins.

A browser sends session cookies with a WebSocket handshake whatever page opens it,
so without this check any site a worker visits could work (or read notifications) as
them. Channels' AllowedHostsOriginValidator compares the host alone: a page on another
port of the same machine, or on plain http, passed."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalized_origin(origin: str) -> str | None:
    """scheme://host:port, lower case and with the port always written, or None if it
    is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port or DEFAULT_PORTS[parts.scheme]}"


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _allowed_hosts() -> list[str]:
    # As Django's HttpRequest.get_host: in DEBUG with no ALLOWED_HOSTS, loopback only.
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


def _request_scheme(scope: dict) -> str:
    """The scheme the browser used: wss, or https as the proxy in front says (the same
    header SECURE_PROXY_SSL_HEADER trusts for pages; a browser cannot set it on a
    handshake)."""
    # Daphne's --proxy-headers puts X-Forwarded-Proto itself ("https") in the scope.
    if scope.get("scheme") in ("wss", "https"):
        return "https"
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = header.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = _header(scope, name)
        if value is not None and value.split(",")[0].strip() == secure_value:
            return "https"
    return "http"


def own_origin(scope: dict) -> str | None:
    """The origin the handshake was sent to (its scheme and Host header), if the Host is
    one this site answers to (ALLOWED_HOSTS: a rebound DNS name is not)."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    return normalized_origin(f"{_request_scheme(scope)}://{host}")


def origin_allowed(scope: dict) -> bool:
    """Whether the handshake's Origin is exactly one of WEBSOCKET_ALLOWED_ORIGINS, or the
    site's own origin as the request reached it. No Origin (not a browser) is refused."""
    origin = _header(scope, b"origin")
    origin = normalized_origin(origin) if origin else None
    if origin is None:
        return False
    configured = {normalized_origin(o) for o in settings.WEBSOCKET_ALLOWED_ORIGINS}
    return origin in configured or origin == own_origin(scope)


class SiteOriginValidator:
    """ASGI middleware: a WebSocket handshake from any other origin is refused (403)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("SiteOriginValidator is for WebSocket connections only.")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
