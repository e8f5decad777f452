"""A worker on a phone finds a failed check on their quality page with nothing of its
task or answer, asks to see it, and reads it: the check is retired for everyone."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tasks.models import Assignment, Task
from tests.browser.test_quality_journey import PHONE, fits_the_screen, log_in
from tests.daphne import running_daphne
from tests.work_helpers import published_set, submit_committed, vetted_workers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_failed_check_is_hidden_until_asked_for_then_retired(
    browser, requester_org, requester, admin_user
):
    zoo = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Zoo photos",
        regular=4,
        gold=6,
        options=("zebra", "okapi"),
    )
    task = zoo.tasks.filter(is_gold=True).order_by("pk").first()
    Task.objects.filter(pk=task.pk).update(
        payload_text="PAYLOAD-STRIPES", gold_explanation="EXPLAINS-STRIPES"
    )
    [worker] = vetted_workers(1, prefix="zoo")
    now = timezone.now()
    mine = Assignment.objects.create(
        task=task,
        task_set=zoo,
        is_gold=True,
        worker=worker,
        claimed_at=now,
        expires_at=now + timedelta(minutes=10),
        reward_minor=zoo.reward_minor,
        currency=zoo.currency,
    )
    submit_committed(worker, mine, "okapi")

    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        with running_daphne() as base:
            log_in(page, base, worker.username)
            page.goto(f"{base}/work/quality/")
            html = page.content()
            assert "PAYLOAD-STRIPES" not in html and "EXPLAINS-STRIPES" not in html
            assert "zebra" not in html and "okapi" not in html
            hidden = page.locator(".answer-hidden")
            assert "Zoo photos" in hidden.inner_text()
            hidden.get_by_role("button", name="Show me this check").click()
            page.wait_for_selector(".right-answer")
            text = page.inner_text("main")
            assert "This check is retired" in text
            assert "PAYLOAD-STRIPES" in text and "EXPLAINS-STRIPES" in text
            assert page.inner_text(".right-answer") == "zebra"
            assert fits_the_screen(page)
    finally:
        context.close()
    connection.close()
    task.refresh_from_db()
    assert task.retired_for == worker and task.withdrawn_at is not None
