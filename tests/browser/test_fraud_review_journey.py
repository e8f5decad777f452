"""An admin, new to the queue, finds a flagged worker, reads why, suspends them
(the worker's open work page stops at once), then restores them with nothing lost."""

from datetime import timedelta

import pytest
from django.db import connection

from payouts.models import Earning
from reputation import fraud
from reputation.models import Flag
from tasks.models import Assignment, TaskSet
from tests.conftest import PASSWORD
from tests.daphne import running_daphne
from tests.reputation.fraud_helpers import OPTIONS, Crowd
from tests.work_helpers import published_set, vetted_workers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_find_read_suspend_and_restore_a_flagged_worker(
    browser, requester_org, requester, admin_user, vetted_worker
):
    # Past work: honest colleagues, and this worker answering in under a second.
    history = TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Last week's animals",
        kind=TaskSet.Kind.LABEL,
        label_options=OPTIONS,
        reward_minor=5,
        status=TaskSet.Status.COMPLETED,
    )
    crowd = Crowd(history, regular=45, gold=5)
    crowd.honest(vetted_workers(4, prefix="honest"))
    for index, task in enumerate(crowd.regular[:30]):
        crowd.answer(
            vetted_worker,
            task,
            OPTIONS[index % 4],
            at=crowd.start + timedelta(seconds=index + 1),
            seconds=0.6,
        )
    crowd.save()
    fraud.scan()
    assert Flag.objects.filter(worker=vetted_worker, signal="too_fast").exists()
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=6,
        gold=5,
        gold_ratio_permille=0,
        title="Today's animals",
    )
    answers_before = Assignment.objects.filter(worker=vetted_worker, status="submitted").count()
    earnings_before = Earning.objects.filter(worker=vetted_worker).count()

    admin = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    phone_context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    phone = phone_context.new_page()
    try:
        with running_daphne() as base:
            log_in(phone, base, vetted_worker.username)
            phone.goto(f"{base}/work/")
            phone.wait_for_selector(".task[data-assignment]", timeout=15000)

            # The admin finds the queue from the menu and the worker in it.
            log_in(admin, base, "admin")
            admin.click("nav >> text=Flags")
            row = admin.locator("#flags tbody tr", has_text="Answers too fast").filter(
                has_text=vetted_worker.username
            )
            assert "answers were too fast" in row.inner_text()
            row.get_by_role("link", name=vetted_worker.username).click()
            why = admin.inner_text("#flag-summary")
            assert "30 answers were too fast" in why
            assert admin.locator(".histogram").first.is_visible()

            admin.check("input[name=action][value=suspend]")
            admin.fill("#decide textarea[name=reason]", "Answers faster than anyone can read them.")
            admin.click('#decide button:has-text("Record decision")')
            assert "Decision recorded" in admin.inner_text("body")
            assert admin.inner_text("#flag-status") == "Suspended"

            # The worker's open page stops at once and says where to read why.
            phone.wait_for_selector("#stopped", timeout=10000)
            assert "suspended" in phone.inner_text("#stopped")
            phone.click("#stopped a")
            assert "Answers faster than anyone can read them." in phone.inner_text(
                "#decisions ~ ul"
            )

            # Later: the worker explains, the admin restores them.
            phone.fill("textarea[name=message]", "I was testing the keyboard shortcuts.")
            phone.click('button:has-text("Appeal")')
            admin.reload()
            assert "I was testing the keyboard shortcuts." in admin.inner_text("#appeal")
            admin.check("input[name=action][value=dismiss]")
            admin.fill("#decide textarea[name=reason]", "Explained; please answer carefully.")
            admin.click('#decide button:has-text("Record decision")')
            assert admin.inner_text("#flag-status") == "Dismissed"
            history_text = admin.inner_text("#history")
            assert "flag.suspend" in history_text and "flag.dismiss" in history_text

            phone.goto(f"{base}/work/")
            phone.wait_for_selector(".task[data-assignment]", timeout=15000)
    finally:
        admin.context.close()
        phone_context.close()
    connection.close()  # see rows committed by Daphne's process
    vetted_worker.worker_profile.refresh_from_db()
    assert vetted_worker.worker_profile.status == "vetted"
    assert (
        Assignment.objects.filter(worker=vetted_worker, status="submitted").count()
        == answers_before
    )
    assert Earning.objects.filter(worker=vetted_worker).count() == earnings_before
