"""Chromium offers permessage-deflate on the work page's socket, and Daphne started
as production starts it (marketplace.serve) accepts: what the page's tasks cost."""

import pytest

from tests.conftest import PASSWORD
from tests.daphne import running_daphne
from tests.work_helpers import published_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_work_pages_socket_is_compressed(
    browser, requester_org, requester, admin_user, vetted_worker
):
    published_set(organization=requester_org, requester=requester, admin=admin_user)
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    handshakes = []
    cdp.on("Network.webSocketHandshakeResponseReceived", lambda event: handshakes.append(event))
    try:
        with running_daphne() as base:
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=login]", vetted_worker.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{base}/work/")
            page.wait_for_selector(".task[data-assignment]", timeout=30000)
    finally:
        context.close()
    assert handshakes, "the work page opened its socket"
    headers = {k.lower(): v for k, v in handshakes[0]["response"]["headers"].items()}
    assert headers.get("sec-websocket-extensions", "").startswith("permessage-deflate")
