"""The fake Stripe HTTP server: routing, auth, idempotency, spec checks, webhook delivery.

See the package docstring (tests/fake_stripe/__init__.py) for the control API.
"""

from __future__ import annotations

import base64
import copy
import json
import queue
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from tests.fake_stripe import params as p
from tests.fake_stripe import spec
from tests.fake_stripe.store import Store, StripeError
from tests.fake_stripe.webhooks import Delivery, deliver

WebhookMode = Literal["manual", "immediate", "background"]

# (method, path as the spec names it, Store method). Path parameters are passed in order.
ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/v1/checkout/sessions", "create_checkout_session"),
    ("GET", "/v1/checkout/sessions", "list_checkout_sessions"),
    ("GET", "/v1/checkout/sessions/{session}", "get:checkout.session"),
    ("POST", "/v1/checkout/sessions/{session}/expire", "expire_checkout_session"),
    ("GET", "/v1/payment_intents/{intent}", "get:payment_intent"),
    ("POST", "/v1/refunds", "create_refund"),
    ("GET", "/v1/refunds/{refund}", "get:refund"),
    ("POST", "/v1/accounts", "create_account"),
    ("GET", "/v1/accounts/{account}", "get_account"),
    ("POST", "/v1/accounts/{account}", "update_account"),
    ("POST", "/v1/account_links", "create_account_link"),
    ("POST", "/v1/transfers", "create_transfer"),
    ("GET", "/v1/transfers", "list_transfers"),
    ("GET", "/v1/transfers/{transfer}", "get:transfer"),
    ("POST", "/v1/transfers/{id}/reversals", "create_reversal"),
    ("GET", "/v1/transfers/{id}/reversals", "list_reversals"),
    ("GET", "/v1/balance", "balance"),
]


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^/]+\}", "([^/]+)", template) + "$")


_COMPILED = [(method, template, _pattern(template), name) for method, template, name in ROUTES]


def _route(method: str, path: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(spec path template, handler name, path parameters), or None if unrouted."""
    for route_method, template, pattern, name in _COMPILED:
        match = pattern.match(path)
        if match and route_method == method:
            return template, name, match.groups()
    return None


@dataclass
class Request:
    """One API request as the fake saw it, for tests that count calls."""

    method: str
    path: str
    params: dict[str, Any]
    account: str | None
    idempotency_key: str | None
    status: int = 0
    replayed: bool = False


@dataclass
class _Saved:
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any]


@dataclass
class _Webhooks:
    url: str | None = None
    secret: str = "whsec_test"
    mode: WebhookMode = "manual"
    deliveries: list[Delivery] = field(default_factory=list)


class FakeStripe:
    """A fake Stripe on 127.0.0.1; `start()` it, point stripe-python at `.url`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._outbox: queue.Queue[str | None] = queue.Queue()
        self._sender: threading.Thread | None = None
        self.url = ""
        self.reset()

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeStripe:
        spec.load_spec()  # once, before the first request has to wait for it
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.store.base_url = self.url
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self._sender = threading.Thread(target=self._send_outbox, daemon=True)
        self._sender.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
        self._outbox.put(None)

    def reset(self) -> None:
        """Forget every object, balance, key, event and request (between tests)."""
        with self._lock:
            while not self._outbox.empty():
                self._outbox.get_nowait()
            self.store = Store(self.url)
            self._saved: dict[tuple[str | None, str], _Saved] = {}
            self.webhooks = _Webhooks()
            self.requests: list[Request] = []
            # Responses or events off the spec, or crashes; the fixture fails the test.
            self.failures: list[str] = []

    # --- webhooks ---------------------------------------------------------------------

    def send_webhooks_to(
        self,
        url: str,
        *,
        secret: str = "whsec_test",  # noqa: S107 - the test suite's webhook secret
        mode: WebhookMode = "manual",
    ) -> None:
        """manual: events wait for `deliver_pending()`; immediate: delivered before the
        API call (or control method) that caused them returns; background: a thread
        delivers them as they happen."""
        self.webhooks.url, self.webhooks.secret, self.webhooks.mode = url, secret, mode

    @property
    def deliveries(self) -> list[Delivery]:
        return self.webhooks.deliveries

    def event(self, event_id: str) -> dict[str, Any]:
        return self.store.events[event_id]

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Every event made so far, oldest first, delivered or not."""
        return [e for e in self.store.events.values() if type in (None, e["type"])]

    def pending_events(self) -> list[dict[str, Any]]:
        return [self.store.events[event_id] for event_id in self.store.pending]

    def deliver_pending(self) -> list[Delivery]:
        """Deliver every waiting event now, oldest first; returns the receiver's answers."""
        with self._lock:
            event_ids, self.store.pending = self.store.pending, []
        return [self._deliver(event_id) for event_id in event_ids]

    def deliver(self, *event_ids: str) -> list[Delivery]:
        """Deliver these events in this order: out of order, or again (a replay)."""
        with self._lock:
            self.store.pending = [e for e in self.store.pending if e not in event_ids]
        return [self._deliver(event_id) for event_id in event_ids]

    redeliver = deliver

    def _deliver(self, event_id: str) -> Delivery:
        if not self.webhooks.url:
            raise RuntimeError("no webhook endpoint: call send_webhooks_to(url) first")
        delivery = deliver(self.store.events[event_id], self.webhooks.url, self.webhooks.secret)
        self.webhooks.deliveries.append(delivery)
        return delivery

    def _after_change(self) -> None:
        """Called outside the lock after anything that may have made events."""
        if not self.webhooks.url or self.webhooks.mode == "manual":
            return
        with self._lock:
            event_ids, self.store.pending = self.store.pending, []
        for event_id in event_ids:
            if self.webhooks.mode == "immediate":
                self._deliver(event_id)
            else:
                self._outbox.put(event_id)

    def _send_outbox(self) -> None:
        while (event_id := self._outbox.get()) is not None:
            # An event of a test that has ended (reset since) is dropped.
            if event_id not in self.store.events or not self.webhooks.url:
                continue
            try:
                self._deliver(event_id)
            except Exception as exc:  # keep the sender alive for the next tests
                self.failures.append(f"fake Stripe, delivering {event_id}: {exc!r}")

    # --- test controls: what a customer, Stripe or time would do ----------------------

    def _control(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            result = getattr(self.store, method)(*args, **kwargs)
        self._after_change()
        return copy.deepcopy(result)

    def complete_checkout_session(self, session_id: str, *, async_payment: bool = False) -> dict:
        """The customer pays: `checkout.session.completed`; with async_payment, unpaid yet."""
        return self._control("complete_checkout_session", session_id, async_payment=async_payment)

    def succeed_async_payment(self, session_id: str) -> dict:
        return self._control("settle_async_payment", session_id, succeeded=True)

    def fail_async_payment(self, session_id: str) -> dict:
        return self._control("settle_async_payment", session_id, succeeded=False)

    def activate_account(self, account_id: str) -> dict:
        """Onboarding done: requested capabilities active, `account.updated` sent."""
        return self._control("activate_account", account_id)

    def fund_balance(self, amount: int, currency: str = "usd", account: str | None = None) -> None:
        self._control("fund_balance", amount, currency, account)

    def available_balance(self, currency: str = "usd", account: str | None = None) -> int:
        with self._lock:
            return self.store.balances[account][currency]

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Stored objects of one kind ("transfer"), oldest first."""
        with self._lock:
            return copy.deepcopy([o for o in self.store.objects.values() if o["object"] == kind])

    # --- the API ----------------------------------------------------------------------

    def handle(
        self, method: str, path: str, params: dict, account: str | None, key: str | None
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, body, replayed) for one API request."""
        record = Request(method, path, params, account, key)
        self.requests.append(record)
        with self._lock:
            status, body, replayed = self._handle_locked(method, path, params, account, key)
        record.status, record.replayed = status, replayed
        self._after_change()
        return status, body, replayed

    def _handle_locked(
        self, method: str, path: str, params: dict, account: str | None, key: str | None
    ) -> tuple[int, dict[str, Any], bool]:
        route = _route(method, path)
        if route is None:
            error = StripeError(
                f"Unrecognized request URL ({method}: {path}).", status=404, saved=False
            )
            return error.status, error.body(), False
        template, name, args = route
        saved_key = (account, key) if key and method == "POST" else None
        if saved_key and saved_key in self._saved:
            return self._replay(self._saved[saved_key], method, path, params, key)
        try:
            try:
                self._check_parameters(method, template, params)
                result = self._call(name, account, args, params)
                status, body, keep = 200, copy.deepcopy(result), True
            except StripeError as error:
                status, body, keep = error.status, error.body(), error.saved
            spec.validate(body, spec.response_schema(method, template, status), _name(body))
        except Exception as failure:
            # A response or event off the spec, or a bug of the fake: loud, and the
            # fixture fails the test even if the code under test swallows the 500.
            message = f"fake Stripe, {method} {path}: {type(failure).__name__}: {failure}"
            self.failures.append(message)
            return 500, {"error": {"type": "api_error", "message": message}}, False
        if saved_key and keep:
            self._saved[saved_key] = _Saved(method, path, params, status, body)
        return status, body, False

    def _replay(self, saved: _Saved, method: str, path: str, params: dict, key: str):
        if (saved.method, saved.path) != (method, path):
            error = StripeError(
                f"Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ({saved.method} {saved.path}). Try using a key other "
                f"than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
            return error.status, error.body(), False
        if saved.params != params:
            error = StripeError(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
            return error.status, error.body(), False
        return saved.status, copy.deepcopy(saved.body), True

    def _check_parameters(self, method: str, template: str, params: dict) -> None:
        schema = spec.request_schema(method, template)
        if method == "POST" and schema:
            unknown = spec.unknown_parameters(params, schema)
            if unknown:
                raise StripeError(
                    f"Received unknown parameter: {unknown[0]}",
                    code="parameter_unknown",
                    param=unknown[0],
                    saved=False,
                )

    def _call(self, name: str, account: str | None, args: tuple[str, ...], params: dict) -> dict:
        if account and self.store.objects.get(account, {}).get("object") != "account":
            raise StripeError(
                f"The provided key does not have access to account '{account}' "
                "(or that account does not exist).",
                status=403,
                code="account_invalid",
                saved=False,
            )
        if name.startswith("get:"):
            return self._expand(self.store.get(name[4:], args[0], account), params)
        if name == "get_account":
            return self.store.get("account", args[0], None, "account")
        if name == "balance":
            return self.store.balance(account)
        return getattr(self.store, name)(account, *args, params)

    def _expand(self, obj: dict, params: dict) -> dict:
        """`expand[]=payment_intent`: replace an id field by the object it names."""
        fields = params.get("expand") or []
        if not fields:
            return obj
        obj = copy.deepcopy(obj)
        for dotted in fields if isinstance(fields, list) else [fields]:
            name = dotted.split(".")[0]
            value = obj.get(name)
            if isinstance(value, str) and value in self.store.objects:
                obj[name] = copy.deepcopy(self.store.objects[value])
        return obj


def _name(body: dict[str, Any]) -> str:
    return body.get("object") or ("error" if "error" in body else "response")


def _authorised_key(header: str) -> str | None:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        key = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credentials).decode().partition(":")[0]
        except ValueError:
            return None
    else:
        return None
    return key if key.startswith(("sk_test_", "rk_test_")) else None


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, a delayed ACK costs 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if url.path.startswith("/_fake/"):
                return self._page(url.path, parse_qs(url.query))
            if not _authorised_key(self.headers.get("Authorization", "")):
                error = StripeError(
                    "Invalid API Key provided (the fake takes any sk_test_ key).",
                    status=401,
                    saved=False,
                )
                return self._json(error.status, error.body())
            try:
                params = p.parse(body if method == "POST" else url.query)
            except p.ParamError as exc:
                error = StripeError(str(exc), param=exc.param, saved=False)
                return self._json(error.status, error.body())
            status, response, replayed = fake.handle(
                method,
                url.path,
                params,
                self.headers.get("Stripe-Account"),
                self.headers.get("Idempotency-Key"),
            )
            self._json(status, response, replayed)

        def _json(self, status: int, body: dict[str, Any], replayed: bool = False) -> None:
            data = json.dumps(body, indent=2).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_fake{id(body):x}")
            # Deterministic tests: stripe-python must not retry on its own.
            self.send_header("Stripe-Should-Retry", "false")
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(data)

        def _page(self, path: str, query: dict[str, list[str]]) -> None:
            """The hosted pages a browser is sent to: paying, and Connect onboarding."""
            parts = path.strip("/").split("/")
            try:
                if parts[1] == "checkout" and len(parts) == 3:
                    session = fake.store.objects[parts[2]]
                    if "cancel" in query:
                        return self._redirect(session["cancel_url"])
                    fake.complete_checkout_session(parts[2], async_payment="async" in query)
                    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", parts[2])
                    return self._redirect(target)
                if parts[1] == "onboarding" and len(parts) == 3:
                    link = fake.store.links[parts[2]]
                    fake.activate_account(link["account"])
                    return self._redirect(link["return_url"])
            except (KeyError, StripeError) as exc:
                return self._json(404, {"error": {"type": "invalid_request_error",
                                                  "message": f"fake page: {exc}"}})  # fmt: skip
            self._json(404, {"error": {"type": "invalid_request_error", "message": path}})

        def _redirect(self, location: str) -> None:
            self.send_response(303)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
