"""Issue 19 points 1, 3 and 6 in a real browser, at phone and desktop widths: staff
reach every tool from the header's Staff link and start the first payout run; a
requester reads upload errors on the right line and is refused publishing a set no
worker could ever reach, with the reason."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from payouts.models import PayoutDestination, PayoutRun
from payouts.services import credit_organization
from tasks.models import TaskSet
from tests.browser.test_vetting_journey import log_in
from tests.factories import WorkerProfileFactory
from tests.payouts.helpers import paid, via_centre
from tests.work_helpers import published_set, vetted_workers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TIMEOUT_MS = 60_000  # a shared, busy machine


@pytest.mark.parametrize("width", [360, 1280])
def test_staff_start_the_first_payout_run_from_the_staff_home(
    live_server, browser, settings, admin_user, requester_org, requester, centre, width
):
    settings.PAYOUT_MINIMUMS_MINOR = {PayoutDestination.Rail.PARTNER_CENTRE: {"USD": 10}}
    admin_user.is_superuser = True
    admin_user.save()
    task_set = published_set(organization=requester_org, requester=requester, admin=admin_user)
    worker = WorkerProfileFactory().user
    via_centre(worker, centre, mobile="+85512345678")
    for _ in range(3):
        paid(task_set, worker, when=timezone.now() - timedelta(days=30))

    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, live_server.url, "admin")
    page.goto(f"{live_server.url}/")
    page.click("header >> text=Staff")
    tools = page.inner_text("#staff-tools")
    for tool in ("Vetting", "Flags", "Appeals", "Reports", "Credit", "Payout runs", "Audit log"):
        assert tool in tools
    page.click("#staff-tools >> text=Payout runs")
    assert "No payout run yet." in page.inner_text("#runs")
    page.check("input[name=confirm]")
    page.click("button:has-text('Start payout run')")
    page.wait_for_selector("text=1 line, 0.15 USD")
    run = PayoutRun.objects.get()
    assert run.trigger == "staff" and run.line_count == 1
    assert str(run.pk) in page.inner_text("#runs")
    context.close()


def test_a_requester_reads_upload_errors_and_why_a_set_cannot_be_published(
    live_server, desktop, admin_user, requester_org, requester
):
    credit_organization(
        organization=requester_org, amount_minor=50_00, currency="USD", actor=admin_user, reason="t"
    )
    vetted_workers(2, qualified=False)  # nobody is qualified, and there is no training
    draft = TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Scenes",
        kind=TaskSet.Kind.MULTILABEL,
        label_options=["person", "car"],
        reward_minor=5,
        expected_seconds_per_task=20,
    )
    desktop.set_default_timeout(TIMEOUT_MS)
    log_in(desktop, live_server.url, "rita")
    desktop.goto(f"{live_server.url}/requester/sets/{draft.pk}/")

    broken = b'external_id,text\nt1,fine\nt2,"never closed\nt3,swallowed\n'
    desktop.set_input_files(
        "input[name=file]", files=[{"name": "t.csv", "mimeType": "text/csv", "buffer": broken}]
    )
    desktop.click("button:has-text('Upload')")
    row = desktop.locator("#upload-errors tbody tr").first.inner_text()
    assert row.startswith("3") and "never closed" in row

    desktop.set_input_files(
        "input[name=file]",
        files=[{"name": "t.xlsx", "mimeType": "application/octet-stream", "buffer": b"PK"}],
    )
    desktop.click("button:has-text('Upload')")
    row = desktop.locator("#upload-errors tbody tr").first.inner_text()
    assert row.startswith("whole file") and "“t.xlsx” cannot be read here" in row

    good = b"external_id,text,gold_answer\n" + b"".join(
        f"t{i},scene {i},{'person|car' if i < 5 else ''}\n".encode() for i in range(10)
    )
    desktop.set_input_files(
        "input[name=file]", files=[{"name": "t.csv", "mimeType": "text/csv", "buffer": good}]
    )
    desktop.click("button:has-text('Upload')")
    desktop.wait_for_selector("#reach-never")
    assert "0 of 2 vetted workers" in desktop.inner_text("#reach-summary")
    gold = desktop.locator("table tbody tr", has_text="scene 0").first
    assert gold.locator(".tag").all_inner_texts() == ["person", "car"]

    desktop.click("button:has-text('Publish')")
    error = desktop.inner_text("#action-error")
    assert "No vetted worker could ever work on this set." in error
    assert re.search(r"2 are not qualified in (?:multi-label tagging|Multi-label) yet", error)
    draft.refresh_from_db()
    assert draft.status == "draft"
