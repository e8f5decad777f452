"""A requester, in a real browser: creates a set, uploads a CSV with a mistake, reads
which line is wrong, fixes it, sees the cost and hourly pay, publishes from the
funded balance, and downloads results."""

import re

import pytest

from payouts.services import credit_organization
from tasks.models import TaskSet
from tests.browser.test_vetting_journey import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = "".join(f"r{i},Street sign {i},,\n" for i in range(20)) + "".join(
    f"g{i},Gold sign {i},true,stop\n" for i in range(5)
)
GOOD = ("external_id,text,gold,gold_answer\n" + ROWS).encode()
BAD = GOOD.replace(b"g2,Gold sign 2,true,stop", b"g2,Gold sign 2,true,halt")


def test_requester_publishes_and_downloads(
    live_server, desktop, admin_user, requester, requester_org
):
    credit_organization(
        organization=requester_org, amount_minor=50_00, currency="USD", actor=admin_user, reason="t"
    )
    base = live_server.url
    log_in(desktop, base, "rita")
    desktop.goto(f"{base}/requester/sets/new/")
    desktop.fill("input[name=title]", "Street signs")
    desktop.fill("textarea[name=instructions]", "Pick the **sign** shown.")
    desktop.select_option("select[name=kind]", "label")
    desktop.fill("textarea[name=label_options]", "stop\nyield\nother")
    desktop.fill("input[name=reward]", "0.05")
    desktop.click("button:has-text('Create draft')")
    desktop.wait_for_url(re.compile(r".*/requester/sets/\d+/$"))
    assert "<strong>sign</strong>" in desktop.inner_html("#instructions")

    desktop.set_input_files(
        "input[name=file]", files=[{"name": "t.csv", "mimeType": "text/csv", "buffer": BAD}]
    )
    desktop.click("button:has-text('Upload')")
    first_error = desktop.locator("#upload-errors tbody tr").first.inner_text()
    assert "24" in first_error and "gold_answer" in first_error and "halt" in first_error

    desktop.set_input_files(
        "input[name=file]", files=[{"name": "t.csv", "mimeType": "text/csv", "buffer": GOOD}]
    )
    desktop.click("button:has-text('Upload')")
    assert "6.00 USD" in desktop.inner_text("#hourly")
    assert desktop.inner_text("#total").strip() == "4.02 USD"

    desktop.click("button:has-text('Publish')")
    desktop.wait_for_selector("text=Published")
    assert TaskSet.objects.get().status == "published"
    with desktop.expect_download() as download:
        desktop.click("text=JSON Lines")
    assert download.value.suggested_filename.endswith("-results.jsonl")
