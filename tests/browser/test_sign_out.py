"""A phone shared at a centre: a worker logs out in one tab, and every other open page
of theirs (the work page, their home page) drops to the sign-in page by itself, so the
next person does not go on working as them."""

import pytest

from tests.conftest import PASSWORD
from tests.daphne import running_daphne

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_logging_out_in_one_tab_signs_out_the_open_work_and_home_pages(browser, vetted_worker):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    try:
        with running_daphne() as base:
            work, home, elsewhere = (context.new_page() for _ in range(3))
            work.goto(f"{base}/accounts/login/")
            work.fill("input[name=login]", vetted_worker.username)
            work.fill("input[name=password]", PASSWORD)
            work.click("button[type=submit]")
            with work.expect_websocket() as opened:
                work.goto(f"{base}/work/")
            opened.value.wait_for_event("framereceived", timeout=10000)  # the welcome
            home.goto(f"{base}/worker/")
            home.wait_for_selector("#notifications[data-live=open]", timeout=10000)

            elsewhere.goto(f"{base}/worker/")
            elsewhere.click("form[action='/accounts/logout/'] button")
            elsewhere.wait_for_url("**/accounts/login/**", timeout=10000)

            # No one touched these two: their sockets were closed (4401) and they reloaded.
            work.wait_for_url("**/accounts/login/**", timeout=10000)
            home.wait_for_url("**/accounts/login/**", timeout=10000)
    finally:
        context.close()
