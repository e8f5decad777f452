"""A worker on a phone-sized, throttled browser: logs in, works through tasks over the
WebSocket, loses the network while answering, and every answer lands exactly once."""

import pytest
from django.db import connection

from tasks.models import Assignment
from tests.conftest import PASSWORD
from tests.daphne import running_daphne
from tests.work_helpers import published_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLOW_3G = {
    "offline": False,
    "latency": 300,  # ms
    "downloadThroughput": 50 * 1024,  # bytes/s
    "uploadThroughput": 20 * 1024,
}


def current_assignment(page) -> str:
    page.wait_for_selector(".task[data-assignment]", timeout=15000)
    return page.get_attribute(".task", "data-assignment")


def answer_and_wait_for_next(page, option: str | None = None, key: str | None = None) -> str:
    before = current_assignment(page)
    if key:
        page.keyboard.press(key)
    else:
        page.get_by_role("button", name=option).click()
    page.wait_for_function(
        f"() => document.querySelector('.task') && "
        f"document.querySelector('.task').dataset.assignment !== '{before}'",
        timeout=15000,
    )
    return before


def test_a_worker_answers_through_a_network_drop_and_nothing_is_lost_or_doubled(
    browser, requester_org, requester, admin_user, vetted_worker
):
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=8,
        gold=5,
        assignments_per_task=1,
        gold_ratio_permille=0,
        options=("cat", "dog", "bird"),
    )
    context = browser.new_context(
        viewport={"width": 320, "height": 640}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    try:
        with running_daphne() as base:
            page.goto(f"{base}/accounts/login/")
            page.fill("input[name=login]", vetted_worker.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{base}/work/")
            answered = [answer_and_wait_for_next(page, "2. dog")]
            answered.append(answer_and_wait_for_next(page, "1. cat"))

            # The network drops while the worker is answering.
            offline_task = current_assignment(page)
            context.set_offline(True)
            page.wait_for_function("() => !navigator.onLine")
            page.get_by_role("button", name="3. bird").click()
            outbox_key = f"work-outbox-{vetted_worker.pk}"
            waiting = page.evaluate(f"JSON.parse(localStorage.getItem('{outbox_key}')).length")
            assert waiting == 1
            assert "Answers waiting to send: 1" in page.inner_text("#net")
            answered.append(offline_task)

            # Back online: the outbox is sent, acknowledged, and work goes on.
            context.set_offline(False)
            page.wait_for_function(
                f"() => JSON.parse(localStorage.getItem('{outbox_key}') || '[]').length === 0",
                timeout=20000,
            )
            answered.append(answer_and_wait_for_next(page, "2. dog"))
            # A keyboard shortcut on the same page (desktop users): "1" picks the first.
            answered.append(answer_and_wait_for_next(page, key="1"))
            assert "Data used" in page.inner_text("#net")
    finally:
        context.close()
    connection.close()  # see rows committed by Daphne's process
    submitted = Assignment.objects.filter(worker=vetted_worker, status="submitted")
    assert sorted(str(pk) for pk in submitted.values_list("pk", flat=True)) == sorted(answered)
    stored = dict(submitted.values_list("pk", "answer"))
    assert stored[int(offline_task)] == "bird"
    assert [stored[int(pk)] for pk in answered] == ["dog", "cat", "bird", "dog", "cat"]
