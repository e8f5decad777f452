"""Issue 19 point 4 on a phone: a new worker's home page points at the training open
to them; transcription training shows the expected text beside the worker's; the
application form starts from the centre's country, has language tick boxes that fit
the screen, and links the terms of work and the privacy notice."""

import pytest

from marketplace.models import WorkerProfile
from tasks.models import TaskSet
from tests.conftest import PASSWORD
from tests.daphne import running_daphne
from tests.factories import WorkerProfileFactory
from tests.work_helpers import published_set, vetted_workers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
WAIT_MS = 30_000  # the machine is shared: be generous


def log_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url, timeout=WAIT_MS)


def fits_the_screen(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_transcription_training_shows_the_expected_text_beside_the_workers(
    browser, requester_org, requester, admin_user
):
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Typing training",
        kind=TaskSet.Kind.TRANSCRIPTION,
        language="en",
        regular=0,
        gold=12,
        is_training=True,
        training_answer_budget=100,
    )
    [trainee] = vetted_workers(1, prefix="new", qualified=False)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        with running_daphne() as base:
            log_in(page, base, trainee.username)
            page.goto(f"{base}/worker/")
            assert "Training is open to you now" in page.inner_text("#open-work")
            assert "Work will appear here" not in page.inner_text("#status-card")

            page.goto(f"{base}/work/")
            page.wait_for_selector(".task[data-assignment] textarea", timeout=WAIT_MS)
            shown = page.inner_text(".task .task-text").strip()
            page.fill("textarea#answer", "chek, typed badly")
            page.get_by_role("button", name="Submit").click()
            page.wait_for_selector(".feedback .compare", timeout=WAIT_MS)
            assert page.inner_text(".compare .expected").strip() == shown
            assert page.inner_text(".compare .yours").strip() == "chek, typed badly"
            assert "Expected text:" in page.inner_text(".compare")
            assert fits_the_screen(page)
    finally:
        context.close()


def test_the_application_form_fits_a_phone_and_links_its_terms(browser, centre, coordinator):
    centre.country = "KH"
    centre.save(update_fields=["country"])
    invited = WorkerProfileFactory(
        user__username="bopha",
        centre=centre,
        country="",
        languages=[],
        status=WorkerProfile.Status.INVITED,
        enrolled_by=coordinator,
    ).user
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        with running_daphne() as base:
            log_in(page, base, invited.username)
            page.goto(f"{base}/worker/apply/")
            assert page.input_value("select[name=country]") == "KH"
            assert page.locator("select[name=languages]").count() == 0
            page.check("input[name=languages][value=km]")
            assert page.is_checked("input[name=languages][value=km]")
            assert fits_the_screen(page)
            page.get_by_role("link", name="Read the privacy notice").click()
            page.wait_for_selector("#privacy", timeout=WAIT_MS)
            page.go_back()
            page.get_by_role("link", name="Read the terms of work").click()
            page.wait_for_selector("#terms", timeout=WAIT_MS)
            assert fits_the_screen(page)
    finally:
        context.close()


def test_home_counts_open_sets_and_earnings_show_pay_waiting_for_review(
    browser, requester_org, requester, admin_user, vetted_worker
):
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=3,
        gold=5,
        gold_ratio_permille=0,
        options=("cat", "dog", "bird"),
    )
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        with running_daphne() as base:
            log_in(page, base, vetted_worker.username)
            page.goto(f"{base}/worker/")
            assert "1 task set is open to you now." in page.inner_text("#open-work")
            assert "Work will appear here" not in page.inner_text("#status-card")

            page.goto(f"{base}/work/")
            page.wait_for_selector(".task[data-assignment]", timeout=WAIT_MS)
            page.get_by_role("button", name="1. cat").click()
            # The answer leaves the page's outbox once the server has acknowledged it.
            page.wait_for_function(
                "(key) => JSON.parse(localStorage.getItem(key) || '[]').length === 0",
                arg=f"work-outbox-{vetted_worker.pk}",
                timeout=WAIT_MS,
            )
            page.goto(f"{base}/worker/earnings/")
            waiting = page.inner_text("#earnings-USD .awaiting-review")
            assert "0.05" in waiting and "1 answer" in waiting
            assert "set up a bank account below" not in page.inner_text("#payout-method")
            assert fits_the_screen(page)
    finally:
        context.close()
