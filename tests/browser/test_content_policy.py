"""The Content-Security-Policy in a real browser: the worker's work page, a
requester's pages, the API docs and the admin run with no violation reported, and the
work page's WebSocket still connects."""

import pytest

from tests.browser.test_vetting_journey import log_in
from tests.daphne import running_daphne
from tests.work_helpers import published_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script: records every violation the page reports.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


@pytest.fixture
def watched(browser):
    """A page whose CSP complaints (events and console messages) are collected."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_init_script(LISTEN)
    page = context.new_page()
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    yield page, console
    context.close()


def visit(page, console, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    reported = page.evaluate("window.__violations")
    assert (reported, console) == ([], []), url


def test_the_work_page_runs_and_connects_under_the_policy(
    watched, requester_org, requester, admin_user, vetted_worker
):
    page, console = watched
    published_set(organization=requester_org, requester=requester, admin=admin_user)
    with running_daphne() as base:
        response = page.goto(f"{base}/")
        directives = [
            part.strip() for part in response.headers["content-security-policy"].split(";")
        ]
        assert "script-src 'self'" in directives  # whole: nothing else may run
        visit(page, console, f"{base}/accounts/login/")
        log_in(page, base, vetted_worker.username)
        page.goto(f"{base}/work/")
        # The first task arrives over the socket (the page's plain form has no
        # data-assignment): the WebSocket connected under connect-src.
        page.wait_for_selector(".task[data-assignment]", timeout=15000)
        assert (page.evaluate("window.__violations"), console) == ([], [])
        visit(page, console, f"{base}/worker/")


def test_requester_pages_api_docs_and_admin_run_under_the_policy(
    watched, requester_org, requester, admin_user
):
    page, console = watched
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        instructions="Pick the sign. ![a stop sign](/media/examples/stop.webp)",
    )
    admin_user.is_superuser = True
    admin_user.save(update_fields=["is_superuser"])
    # Daphne, as in production: WhiteNoise serves the static files the policy allows.
    with running_daphne() as base:
        log_in(page, base, requester.username)
        for path in ("/requester/", "/requester/sets/", f"/requester/sets/{task_set.pk}/"):
            visit(page, console, base + path)
        assert page.locator("#progress[data-live=open]").count() == 1  # live.js connected
        page.goto(f"{base}/api/docs/")
        page.wait_for_selector("#redoc-container h1", timeout=15000)
        page.wait_for_load_state("networkidle")
        # The one thing refused is what the policy is for: Redoc's logo from its CDN.
        assert page.evaluate("window.__violations") == [
            "img-src blocked https://cdn.redoc.ly/redoc/logo-mini.svg"
        ]
        page.evaluate("window.__violations = []")
        console.clear()

        page.context.clear_cookies()
        log_in(page, base, admin_user.username)
        for path in (
            "/admin/",
            "/admin/tasks/taskset/",
            f"/admin/tasks/taskset/{task_set.pk}/change/",
        ):
            visit(page, console, base + path)
