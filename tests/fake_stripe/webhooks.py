"""Signed webhook delivery, the way Stripe signs: `Stripe-Signature: t=<ts>,v1=<hmac>`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

# Never a proxy: deliveries go to a server of the test run, on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header `stripe.Webhook.construct_event` verifies."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass
class Delivery:
    event_id: str
    event_type: str
    url: str
    payload: str
    signature: str
    status: int  # the receiver's HTTP status; 0 if it could not be reached
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def deliver(event: dict[str, Any], url: str, secret: str, timeout: float = 30) -> Delivery:
    payload = json.dumps(event, indent=2)
    signature = sign(payload, secret)
    request = urllib.request.Request(
        url,
        data=payload.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        status, body = 0, str(exc)
    return Delivery(event["id"], event["type"], url, payload, signature, status, body)
