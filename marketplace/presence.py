"""Where and on what workers work: a device cookie, the client's address, and one
WorkerPresence row per work socket or per spell of HTTP work. The fraud signals
(reputation.fraud) read these; nothing here judges anyone."""

import ipaddress
import logging
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from marketplace.models import WorkerPresence

logger = logging.getLogger(__name__)

DEVICE_COOKIE = "mp_device"
DEVICE_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600  # seconds: a phone keeps its id for years
_DEVICE_ID = re.compile(r"[0-9a-f]{32}")
# HTTP work within this long of the last request on the same device and address
# continues the same presence row, instead of adding one per request.
HTTP_SPELL = timedelta(minutes=10)
# A socket's row is stamped at most this often while messages flow (and at close).
SOCKET_TOUCH_SECONDS = 60
NO_DEVICE_PATHS = ("/api/", "/healthz", "/stripe/")


def valid_device_id(value: str | None) -> str:
    return value if value and _DEVICE_ID.fullmatch(value) else ""


class DeviceCookieMiddleware:
    """Gives every browser a random id in a long-lived cookie, so that one phone shared
    by a centre's cohort (normal) or one person's two accounts (not) can be told apart
    from the answers. HttpOnly: page scripts never need it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.device_id = valid_device_id(request.COOKIES.get(DEVICE_COOKIE))
        response = self.get_response(request)
        # API clients and health probes are programs, not phones: no cookie for them.
        if not request.device_id and not request.path.startswith(NO_DEVICE_PATHS):
            response.set_cookie(
                DEVICE_COOKIE,
                secrets.token_hex(16),
                max_age=DEVICE_COOKIE_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response


def client_address(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The client's address: behind N trusted proxies, the Nth address from the right
    of X-Forwarded-For (the same setting allauth's rate limits use)."""
    proxies = settings.ALLAUTH_TRUSTED_PROXY_COUNT
    candidate = remote_addr
    if proxies and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate)) if candidate else None
    except ValueError:
        return None


def request_address(request) -> str | None:
    return client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))


def scope_address(scope: dict) -> str | None:
    headers = dict(scope.get("headers") or [])
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1") or None
    client = scope.get("client") or (None, None)
    return client_address(client[0], forwarded)


def open_socket_presence(*, worker_id: int, device_id: str, ip_address: str | None) -> int | None:
    """The socket's presence row, or None if it could not be written: presence is
    evidence for the fraud signals, never a reason to refuse a worker their socket
    (SQLite, the embedded default, refuses writes while another one is committing)."""
    now = timezone.now()
    try:
        return WorkerPresence.objects.create(
            worker_id=worker_id,
            device_id=valid_device_id(device_id),
            ip_address=ip_address,
            channel=WorkerPresence.Channel.SOCKET,
            first_seen_at=now,
            last_seen_at=now,
        ).pk
    except DatabaseError:
        logger.warning("presence of worker %s not recorded", worker_id, exc_info=True)
        return None


def touch_presence(presence_id: int | None, now: datetime | None = None) -> None:
    if presence_id is None:
        return
    try:
        WorkerPresence.objects.filter(pk=presence_id).update(last_seen_at=now or timezone.now())
    except DatabaseError:
        logger.warning("presence %s not stamped", presence_id, exc_info=True)


def record_http_presence(*, worker_id: int, device_id: str, ip_address: str | None) -> None:
    """Extend this device and address's current spell of HTTP work, or start one."""
    now = timezone.now()
    device_id = valid_device_id(device_id)
    extended = WorkerPresence.objects.filter(
        worker_id=worker_id,
        device_id=device_id,
        ip_address=ip_address,
        channel=WorkerPresence.Channel.HTTP,
        last_seen_at__gte=now - HTTP_SPELL,
    ).update(last_seen_at=now)
    if not extended:
        WorkerPresence.objects.create(
            worker_id=worker_id,
            device_id=device_id,
            ip_address=ip_address,
            channel=WorkerPresence.Channel.HTTP,
            first_seen_at=now,
            last_seen_at=now,
        )
