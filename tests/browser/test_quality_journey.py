"""A new worker on a phone trains with feedback after every answer, qualifies, gets
paid work, finds an answer of theirs not used, appeals it from their quality page, and
reads that an admin accepted it."""

import re
import time

import pytest
from django.db import connection

from reputation.models import Appeal, WorkerSkill
from tasks import work
from tasks.models import Assignment
from tests.conftest import PASSWORD
from tests.daphne import running_daphne
from tests.work_helpers import published_set, submit_committed, vetted_workers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 320, "height": 640}, "is_mobile": True, "has_touch": True}


def log_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def current_assignment(page) -> str:
    page.wait_for_selector(".task[data-assignment]", timeout=15000)
    return page.get_attribute(".task", "data-assignment")


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_train_qualify_work_appeal_and_read_the_decision(
    browser, requester_org, requester, admin_user
):
    published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Animal training",
        regular=0,
        gold=14,
        is_training=True,
        training_answer_budget=200,
    )
    animals = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Animals",
        regular=4,
        gold=5,  # publishing needs them; a ratio of 0 serves none
        assignments_per_task=3,
        gold_ratio_permille=0,
    )
    # Two experienced workers have already called the first task a cat.
    for other in vetted_workers(2, prefix="old"):
        held = work.claim_next_task(worker=other, task_set_id=animals.pk).assignment
        submit_committed(other, held, "cat")
    [trainee] = vetted_workers(1, prefix="new", qualified=False)

    phone_context = browser.new_context(**PHONE)
    page = phone_context.new_page()
    admin_context = browser.new_context(viewport={"width": 1200, "height": 900})
    desk = admin_context.new_page()
    try:
        with running_daphne() as base:
            log_in(page, base, trainee.username)
            page.goto(f"{base}/work/")
            # Only the training set is open, and it says so.
            assert "Training" in page.inner_text("#sets")

            for i in range(11):
                before = current_assignment(page)
                page.get_by_role("button", name="2. dog" if i == 0 else "1. cat").click()
                page.wait_for_selector(".feedback", timeout=15000)
                feedback = page.inner_text(".feedback")
                if i == 0:
                    assert "Not quite — the right answer is: cat" in feedback
                    assert "Your answer: dog" in feedback
                else:
                    assert "Right!" in feedback
                assert "SECRET-EXPLANATION" in feedback
                # The next task has been sent, but the feedback stays until Continue.
                page.wait_for_timeout(300)
                assert page.locator(".task").count() == 0
                if i % 2:
                    page.keyboard.press("Enter")
                else:
                    page.get_by_role("button", name="Continue").click()
                page.wait_for_function(
                    "() => document.querySelector('.task') && "
                    f"document.querySelector('.task').dataset.assignment !== '{before}'",
                    timeout=15000,
                )

            # Ten of eleven: qualified, and the next task is paid work.
            card = page.inner_text(".task")
            assert "Animals" in card and "Training" not in card
            page.get_by_role("button", name="2. dog").click()
            # Sent and acknowledged: the outbox on the phone is empty again.
            page.wait_for_function(
                f"() => JSON.parse(localStorage.getItem('work-outbox-{trainee.pk}') || '[]')"
                ".length === 0 && !document.querySelector('.feedback')",
                timeout=15000,
            )
            connection.close()
            mine = Assignment.objects.get(worker=trainee, task_set=animals, status="submitted")
            # Its task closed with it and is settled by a job just after the ack.
            deadline = time.monotonic() + 15
            while mine.review_status == "pending" and time.monotonic() < deadline:
                time.sleep(0.1)
                mine.refresh_from_db()
            assert mine.review_status == "soft_rejected"
            assert WorkerSkill.objects.get(worker=trainee, skill="label").state == "qualified"

            # The worker reads why on their quality page, and appeals.
            page.goto(f"{base}/work/quality/")
            assert fits_the_screen(page)
            text = page.inner_text("main")
            assert "Qualified" in text
            assert "10 of your last 11 checks were right." in text
            answer_card = page.locator(f"#answer-{mine.pk}")
            assert "your answer differed" in answer_card.inner_text()
            answer_card.locator("textarea").fill("The animal has floppy ears: it is a dog.")
            answer_card.get_by_role("button", name="Appeal").click()
            page.wait_for_selector(f"#answer-{mine.pk} .appeal")
            assert "Waiting for a decision" in page.inner_text(f"#answer-{mine.pk}")

            # An admin reads the evidence and upholds it.
            log_in(desk, base, admin_user.username)
            desk.goto(f"{base}/staff/appeals/")
            desk.locator("#open-appeals a").first.click()
            desk.wait_for_url(re.compile(r".*/staff/appeals/\d+/$"))
            assert "floppy ears" in desk.inner_text("main")
            desk.fill("textarea[name=reason]", "Checked the image: it is a dog.")
            desk.get_by_role("button", name="Uphold").click()
            desk.wait_for_url(re.compile(r".*/staff/appeals/$"))
            assert "No open appeals." in desk.inner_text("#open-appeals")

            # The worker sees the answer accepted.
            page.reload()
            accepted = page.inner_text(f"#answer-{mine.pk}")
            assert "Upheld: your answer was accepted" in accepted
            assert "Checked the image: it is a dog." in accepted
            assert fits_the_screen(page)
    finally:
        phone_context.close()
        admin_context.close()
    connection.close()
    mine.refresh_from_db()
    assert mine.review_status == "approved"
    assert Appeal.objects.get(assignment=mine).status == Appeal.Status.UPHELD
