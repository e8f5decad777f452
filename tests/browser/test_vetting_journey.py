"""A coordinator enrols a cohort (after fixing a bad CSV), a worker sets up their
account on a phone and applies, an admin approves, and the worker sees it."""

import re

import pytest

from marketplace.models import AuditLog, WorkerProfile
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BAD_CSV = b"name,username,phone,language\nDara Pich,dara,,km\nVibol Sok,vibol,,klingon\n"
GOOD_CSV = b"name,username,phone,language\nDara Pich,dara,,km\nVibol Sok,vibol,,en\n"


def log_in(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_enrol_set_up_apply_and_approve(
    live_server, desktop, phone, coordinator, centre, admin_user
):
    base = live_server.url
    # Coordinator uploads a CSV with a mistake, reads which line, fixes it.
    log_in(desktop, base, "kosal")
    desktop.goto(f"{base}/centre/{centre.slug}/")
    desktop.set_input_files(
        "input[type=file]",
        files=[{"name": "cohort.csv", "mimeType": "text/csv", "buffer": BAD_CSV}],
    )
    desktop.click('button:has-text("Enrol")')
    errors = desktop.locator("#enrolment-errors")
    assert "nobody was enrolled" in errors.inner_text()
    row = errors.locator("tbody tr").first.inner_text()
    assert "3" in row and "language" in row
    assert not WorkerProfile.objects.exists()

    desktop.set_input_files(
        "input[type=file]",
        files=[{"name": "cohort.csv", "mimeType": "text/csv", "buffer": GOOD_CSV}],
    )
    desktop.click('button:has-text("Enrol")')
    codes = desktop.locator("td.code").all_inner_texts()
    assert len(codes) == 2 and all(re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", c) for c in codes)

    # The worker, on a phone, types username and code and chooses a password.
    phone.goto(f"{base}/setup/")
    phone.fill("input[name=username]", "dara")
    phone.fill("input[name=code]", codes[0])
    phone.fill("input[name=password1]", "Dara-new-pass-2026")
    phone.fill("input[name=password2]", "Dara-new-pass-2026")
    phone.click("button[type=submit]")
    phone.wait_for_url(re.compile(r".*/worker/apply/$"))
    phone.select_option("select[name=country]", "KH")
    phone.check("input[name=languages][value=km]")
    phone.check("input[value=first_formal_job]")
    phone.check("input[name=consent]")
    phone.click("button[type=submit]")
    phone.wait_for_url(re.compile(r".*/worker/$"))
    assert phone.locator("#worker-status").inner_text() == "Applied"
    # Nothing on the phone page is wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360

    # The admin approves with a reason.
    desktop.context.clear_cookies()
    log_in(desktop, base, "admin")
    desktop.goto(f"{base}/staff/vetting/")
    desktop.click("text=Dara Pich")
    desktop.select_option("select[name=action]", "approve")
    desktop.fill("textarea[name=reason]", "Trained and assessed by the centre")
    desktop.click('button:has-text("Record decision")')
    assert "Decision recorded" in desktop.inner_text("body")
    assert AuditLog.objects.filter(action="worker.approve", reason__startswith="Trained").exists()

    # The worker sees the new status and the reason.
    phone.reload()
    assert phone.locator("#worker-status").inner_text() == "Vetted"
    assert "Trained and assessed by the centre" in phone.inner_text("#notifications")
