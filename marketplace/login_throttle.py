"""Failed sign-ins, counted per (login, client address) pair, with growing delays.

Counting per login alone lets anybody anywhere lock a worker out by typing wrong
passwords; counting per address alone locks out a centre's whole cohort, which shares
one address, after one bad minute. So each pair has its own count: the first
LOGIN_FREE_FAILURES are free, then the n-th failure makes that pair wait 2**n seconds,
up to LOGIN_MAX_DELAY_SECONDS. Nothing is locked for good. A separate, generous ceiling
per address (LOGIN_ADDRESS_FAILURE_LIMIT per window) stops one address from trying
password after password across many usernames.

Counts live in the cache (Redis in production), never in the database: a sign-in page
must not write rows for strangers' guesses. A coordinator or staff member "unlocks" a
worker by moving the login to a fresh epoch, which orphans that login's counts at every
address at once (the cache cannot list keys by prefix); the orphans expire on their own.
"""

import hashlib
import ipaddress
import math
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from allauth.core.internal import ratelimit as allauth_ratelimit
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from marketplace.cache import counters

PREFIX = "login-throttle"
# An attempt that started this long ago and never reported back (its process died) no
# longer holds the pair's one gated turn.
ATTEMPT_STALE_SECONDS = 60
# How long an attempt waits for the pair's lock before giving up (and being refused).
LOCK_WAIT_SECONDS = 2.0
LOCK_TIMEOUT_SECONDS = 10


def _now() -> float:
    return time.time()


def _digest(value: str) -> str:
    # Logins and addresses stay out of cache keys in the clear (and keys stay short).
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def normalise_login(login: str) -> str:
    return login.strip().lower()


def normalise_address(address: str) -> str:
    """An IPv6 client may pick any address of its /64 (one household or centre gets a
    whole /64), so its counts are kept per /64, as allauth's rate limits do."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address)
    return str(parsed)


def delay_after(failures: int) -> int:
    """Seconds a pair waits after `failures` failures in a row."""
    if failures < settings.LOGIN_FREE_FAILURES:
        return 0
    # min() before the power would be wrong; 2**n for large n is only big, not slow.
    return min(2 ** min(failures, 62), settings.LOGIN_MAX_DELAY_SECONDS)


def describe_wait(seconds: float) -> str:
    """'8 seconds', '4 minutes', in the active language; rounded up, never '0'."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


class LoginThrottled(Exception):
    def __init__(self, *, wait_seconds: float, per_address: bool = False):
        self.wait_seconds = wait_seconds
        self.per_address = per_address
        super().__init__(self.message)

    @property
    def message(self) -> str:
        wait = describe_wait(self.wait_seconds)
        if self.per_address:
            return _(
                "Too many failed sign-ins from this network. Please wait %(wait)s and try again."
            ) % {"wait": wait}
        return _("Too many failed sign-ins. Please wait %(wait)s and try again.") % {"wait": wait}


@dataclass(frozen=True)
class Attempt:
    pair_key: str
    address_key: str
    started_at: float


def _epoch_key(login: str) -> str:
    return f"{PREFIX}:epoch:{_digest(login)}"


def _address_key(address: str, now: float) -> str:
    window = int(now // settings.LOGIN_ADDRESS_WINDOW_SECONDS)
    return f"{PREFIX}:address:{_digest(address)}:{window}"


@contextmanager
def _locked(key: str) -> Iterator[bool]:
    """A short mutex on the cache: the pair's state is read, checked and written back
    as one step, so attempts racing each other (a script firing many at once) cannot
    all pass a check made before any of them was counted."""
    lock = f"{key}:lock"
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not cache.add(lock, 1, timeout=LOCK_TIMEOUT_SECONDS):
        if time.monotonic() > deadline:
            yield False
            return
        time.sleep(0.01)
    try:
        yield True
    finally:
        cache.delete(lock)


def _fresh(state: dict | None, now: float) -> dict:
    state = dict(state or {"failures": 0, "until": 0.0, "pending": []})
    state["pending"] = [t for t in state["pending"] if t > now - ATTEMPT_STALE_SECONDS]
    return state


def begin(*, login: str, address: str) -> Attempt:
    """Admit one sign-in attempt for this login from this address, or raise
    LoginThrottled saying how long to wait. Report its outcome with succeeded() or
    failed(). Refused attempts are not counted: pressing the button again while told
    to wait does not make the wait longer."""
    login, address = normalise_login(login), normalise_address(address)
    now = _now()
    address_key = _address_key(address, now)
    epoch_key = _epoch_key(login)
    found = cache.get_many([epoch_key, address_key])
    if found.get(address_key, 0) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        window = settings.LOGIN_ADDRESS_WINDOW_SECONDS
        raise LoginThrottled(wait_seconds=window - now % window, per_address=True)
    pair_key = f"{PREFIX}:pair:{_digest(login)}:{found.get(epoch_key, '0')}:{_digest(address)}"
    with _locked(pair_key) as locked:
        if not locked:
            raise LoginThrottled(wait_seconds=1)
        state = _fresh(cache.get(pair_key), now)
        if state["until"] > now:
            raise LoginThrottled(wait_seconds=state["until"] - now)
        # Free attempts may overlap (up to the free count, counting those under way);
        # once the pair is being delayed, one attempt at a time.
        under_way = len(state["pending"])
        if state["failures"] + under_way >= settings.LOGIN_FREE_FAILURES and under_way:
            raise LoginThrottled(wait_seconds=delay_after(state["failures"] + 1))
        state["pending"].append(now)
        cache.set(pair_key, state, timeout=settings.LOGIN_FAILURE_MEMORY_SECONDS)
    return Attempt(pair_key=pair_key, address_key=address_key, started_at=now)


def succeeded(attempt: Attempt) -> None:
    """The right password: the pair starts again from nothing."""
    with _locked(attempt.pair_key):
        # Even without the lock: deleting only forgets, it cannot let anybody in.
        cache.delete(attempt.pair_key)


def failed(attempt: Attempt) -> None:
    now = _now()
    counters({attempt.address_key: 1}, timeout=settings.LOGIN_ADDRESS_WINDOW_SECONDS)
    with _locked(attempt.pair_key):
        # Without the lock the failure is still written: losing a count would be
        # kinder to a guesser than waiting a moment longer.
        state = _fresh(cache.get(attempt.pair_key), now)
        if attempt.started_at in state["pending"]:
            state["pending"].remove(attempt.started_at)
        state["failures"] += 1
        state["until"] = now + delay_after(state["failures"])
        cache.set(attempt.pair_key, state, timeout=settings.LOGIN_FAILURE_MEMORY_SECONDS)


def forget_logins(logins: Iterable[str]) -> None:
    """Clear every count of these logins (a username, its email addresses) at every
    address at once: each moves to a fresh epoch, and the old counts, no longer read,
    expire on their own. The epoch never expires, or the login would fall back to an
    epoch whose counts are still alive."""
    epochs = {_epoch_key(normalise_login(login)): secrets.token_hex(8) for login in logins if login}
    cache.set_many(epochs, timeout=None)


def forget_setup_code_guesses(username: str) -> None:
    """Clear the per-username limit on set-up code guesses (RATE_LIMIT_SETUP_CODE's
    "key" rates), leaving the per-address ones alone: the person unlocking is often at
    the same centre, and must not reset its address's count on the way."""
    rates = settings.ACCOUNT_RATE_LIMITS.get("setup_code") or ""
    per_username = ",".join(r.strip() for r in rates.split(",") if r.strip().endswith("/key"))
    # allauth's own clear(), given only the per-username rates: the same cache keys as
    # the consume() in marketplace.views.setup_account. No request: per-key rates use none.
    allauth_ratelimit.clear(
        None,
        app="allauth.account",
        action="setup_code",
        config={"setup_code": per_username},
        key=normalise_login(username),
    )
