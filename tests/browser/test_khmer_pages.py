"""Issue 19 point 5: a worker who reads in Khmer sees every worker page in Khmer. The
test reads each page's visible text and fails on any run of English words that is not
something a person typed (usernames, set titles, task text) or a name that is never
translated, printing what it found."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_noop

from marketplace.models import WorkerProfile
from marketplace.services import notify
from tasks.models import Assignment, TaskSet
from tests.browser.test_worker_pages import PHONE, WAIT_MS, log_in
from tests.daphne import running_daphne
from tests.factories import WorkerProfileFactory
from tests.work_helpers import published_set, submit_committed, vetted_workers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Words of three or more Latin letters, possibly joined by spaces or punctuation.
LATIN_RUN = re.compile(r"[A-Za-z]{3,}(?:[\s,.'\u2019:()-]+[A-Za-z]{3,})*")
# Never translated: units, brands, the Enter key, and the picker's own name for English.
ALLOWED = {"USD", "KHR", "English", "Stripe", "UTC", "OK", "Enter"}
# Lists of names, not sentences: languages are named in themselves (by design), and
# django-countries has no Khmer catalogue for country names.
NOT_READ = "select[name=country], label:has(input[name=languages])"


def untranslated(text: str, typed: set[str]) -> list[str]:
    """The runs of English words on a page, less what people typed and ALLOWED."""
    found = []
    for run in LATIN_RUN.findall(text):
        words = set(re.findall(r"[A-Za-z]{3,}", run))
        if not words <= ALLOWED | typed:
            found.append(run)
    return found


def words_of(*texts: str) -> set[str]:
    return {word for text in texts for word in re.findall(r"[A-Za-z]{3,}", text)}


def visible_text(page) -> str:
    return page.evaluate(
        """(selector) => {
            document.querySelectorAll(selector).forEach((node) => node.remove());
            return document.body.innerText;
        }""",
        NOT_READ,
    )


def in_khmer(page, base: str, path: str, typed: set[str]) -> list[str]:
    page.goto(f"{base}{path}")
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    return [f"{path}: {run}" for run in untranslated(visible_text(page), typed)]


def khmer_context(browser, base):
    context = browser.new_context(**PHONE)
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "km", "url": base}])
    return context


def test_every_worker_page_reads_in_khmer(
    browser, requester_org, requester, admin_user, centre, coordinator
):
    task_set = published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        title="Animal photos",
        instructions="Pick the animal.",
        regular=3,
        gold=5,
        kind=TaskSet.Kind.MULTILABEL,
        options=("cat", "dog", "bird"),
    )
    [worker] = vetted_workers(1, prefix="sokha")
    worker.preferred_language = "km"
    worker.save(update_fields=["preferred_language"])
    # Sent while the worker's stored language was English: the page still reads Khmer.
    notify(
        user=worker,
        subject=gettext_noop("You passed training"),
        body=gettext_noop("You can now take paid work in %(skill)s."),
        params={"skill": "multilabel"},
    )
    # A failed check, so that the quality page lists it and its check page can be read.
    check = task_set.tasks.filter(is_gold=True).order_by("pk").first()
    now = timezone.now()
    failed = Assignment.objects.create(
        task=check,
        task_set=task_set,
        is_gold=True,
        worker=worker,
        claimed_at=now,
        expires_at=now + timedelta(minutes=10),
        reward_minor=task_set.reward_minor,
        currency=task_set.currency,
    )
    submit_committed(worker, failed, ["dog"])
    applicant = WorkerProfileFactory(
        user__username="bopha",
        centre=centre,
        status=WorkerProfile.Status.INVITED,
        enrolled_by=coordinator,
    ).user
    typed = words_of(
        worker.username,
        applicant.username,
        task_set.title,
        task_set.instructions,
        requester_org.name,
        centre.name,
        "cat dog bird",
        *task_set.tasks.values_list("external_id", flat=True),
        *(
            text
            for row in task_set.tasks.values_list("payload_text", "gold_explanation")
            for text in row
        ),
    )
    found: list[str] = []
    with running_daphne() as base:
        context = khmer_context(browser, base)
        page = context.new_page()
        try:
            log_in(page, base, worker.username)
            for path in (
                "/worker/",
                "/work/quality/",
                "/worker/earnings/",
                f"/work/sets/{task_set.pk}/",
                "/terms/",
                "/privacy/",
            ):
                found += in_khmer(page, base, path, typed)
            page.goto(f"{base}/work/quality/")
            page.locator(".answer-hidden button").first.click()
            page.wait_for_selector(".right-answer", timeout=WAIT_MS)
            found += [f"check page: {run}" for run in untranslated(visible_text(page), typed)]
            page.goto(f"{base}/work/")
            page.wait_for_selector(".task[data-assignment]", timeout=WAIT_MS)
            found += [f"/work/: {run}" for run in untranslated(visible_text(page), typed)]
            page.goto(f"{base}/worker/")
            assert "ខ្មែរ" in page.inner_text("#lang")
        finally:
            context.close()
        context = khmer_context(browser, base)
        page = context.new_page()
        try:
            log_in(page, base, applicant.username)
            found += in_khmer(page, base, "/worker/apply/", typed)
        finally:
            context.close()
    assert not found, "Untranslated on worker pages in Khmer:\n" + "\n".join(found)
