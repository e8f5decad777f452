"""Daphne, the Redis channel layer and the worker page together: an admin's
decision, made in another process, reaches the worker's open page at once."""

import json
import threading
import urllib.request

import pytest

from marketplace import services
from tests.conftest import PASSWORD
from tests.daphne import running_daphne

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def decide_and_close(**decision) -> None:
    from django.db import connection

    try:
        services.decide_application(**decision)
    finally:
        connection.close()


def test_decision_appears_live_on_the_worker_page(phone, admin_user, applicant):
    with running_daphne() as base:
        with urllib.request.urlopen(f"{base}/healthz") as response:
            assert json.load(response)["checks"]["channel_layer"]["ok"] is True
        phone.goto(f"{base}/accounts/login/")
        phone.fill("input[name=login]", applicant.username)
        phone.fill("input[name=password]", PASSWORD)
        phone.click("button[type=submit]")
        phone.goto(f"{base}/worker/")
        assert phone.locator("#worker-status").inner_text() == "Applied"
        # The page marks its list once its socket is open (authenticated, origin accepted).
        phone.wait_for_selector("#notifications[data-live=open]", timeout=10000)
        # Decided in this test process (as by another server); the event crosses Redis
        # to Daphne's process. A thread, because Playwright owns this one's event loop.
        decide = threading.Thread(
            target=decide_and_close,
            kwargs={
                "profile_id": applicant.worker_profile.pk,
                "actor": admin_user,
                "action": "approve",
                "reason": "Approved while you watched",
            },
        )
        decide.start()
        decide.join()
        # No reload: the page changes because the event arrived over the WebSocket.
        phone.wait_for_function(
            "() => document.getElementById('worker-status').textContent === 'Vetted'", timeout=10000
        )
        assert "Approved while you watched" in phone.inner_text("#notifications")
