"""Issue 19, in the demo data and a real browser: the requester creates a Khmer
transcription set, reads before publishing who could work on it, publishes it and is
told what moved into escrow and who sees it; a new demo worker qualifies in Khmer
typing through the demo's training and then answers the requester's set.

The worker's browser runs without JavaScript: the server-rendered forms are the same
services (tasks.work) the WebSocket page calls, and keep this test to one server."""

import io
import re
import zipfile

import pytest
from django.core.management import call_command
from PIL import Image

from marketplace.management.commands.seed_demo import DEMO_PASSWORD
from reputation.models import WorkerSkill
from tasks.models import Assignment, TaskSet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 60_000  # a shared, busy machine
TEXTS = {f"form-{i}": f"ភ្នំពេញ {i}" for i in range(10)}
GOLD = {f"check-{i}": f"សៀមរាប {i}" for i in range(5)}
TEXT_OF = {**TEXTS, **GOLD}


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 40), (seed * 20 % 255, 90, 140)).save(buffer, "PNG")
    return buffer.getvalue()


def upload_zip() -> bytes:
    manifest = "external_id,image,gold_answer\n" + "".join(
        f"{name},{name}.png,{GOLD.get(name, '')}\n" for name in TEXT_OF
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.csv", manifest)
        for i, name in enumerate(TEXT_OF):
            archive.writestr(f"{name}.png", png(i))
    return buffer.getvalue()


def log_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def answer_current(page) -> Assignment:
    """Type the text the held task shows (a training text, or the requester's image,
    whose text the test knows by its external id) and submit."""
    assignment = Assignment.objects.select_related("task", "task_set").get(
        pk=page.get_attribute("input[name=assignment]", "value")
    )
    task = assignment.task
    text = task.payload_text if assignment.task_set.is_training else TEXT_OF[task.external_id]
    page.fill("textarea[name=answer]", text)
    page.click("button:has-text('Submit answer')")
    page.wait_for_load_state()
    return assignment


def test_a_demo_transcription_set_goes_from_requester_to_a_newly_qualified_worker(
    live_server, browser
):
    call_command("seed_demo", stdout=io.StringIO())
    base = live_server.url

    requester = browser.new_context(viewport={"width": 1280, "height": 900})
    page = requester.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, base, "requester")
    page.goto(f"{base}/requester/sets/new/")
    page.fill("input[name=title]", "Shop signs in Khmer")
    page.select_option("select[name=kind]", "transcription")
    page.fill("input[name=language]", "km")
    page.fill("input[name=reward]", "0.05")
    # First in line for whoever qualifies: above the demo's training.
    page.fill("input[name=priority]", "5")
    page.click("button:has-text('Create draft')")
    page.wait_for_url(re.compile(r".*/requester/sets/\d+/$"))
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "signs.zip", "mimeType": "application/zip", "buffer": upload_zip()}],
    )
    page.click("button:has-text('Upload')")
    page.wait_for_load_state()
    assert "Added 15 tasks." in page.inner_text("main")
    # Before publishing: who could work on it, and why the others cannot.
    assert "If published now: 2 of 4 vetted workers" in page.inner_text("#reach-summary")
    reasons = page.inner_text("#reach-reasons")
    assert "1 does not read km." in reasons
    assert re.search(
        r"1 is not qualified in [Tt]ranscription \((?:km|Khmer)\) yet: training for it is open",
        reasons,
    )

    page.click("button:has-text('Publish')")
    page.wait_for_selector("text=moved from your balance into escrow")
    told = page.inner_text("ul.messages")
    assert re.search(r"Published\. [\d.]+ USD moved from your balance into escrow\.", told)
    assert "2 vetted workers can see the set now." in told
    task_set = TaskSet.objects.get(title="Shop signs in Khmer")
    assert task_set.status == "published"
    requester.close()

    # Staff put Khmer typing first for new workers (as they would in the admin).
    TaskSet.objects.filter(title="Khmer typing training (demo)").update(priority=3)

    worker = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, java_script_enabled=False
    )
    page = worker.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, base, "sokha")
    page.goto(f"{base}/work/")
    page.click("button:has-text('Get a task')")
    page.wait_for_load_state()
    answered_training = 0
    for _ in range(70):
        assignment = answer_current(page)
        if assignment.task_set_id == task_set.pk:
            break
        assert assignment.task_set.title == "Khmer typing training (demo)"
        answered_training += 1
    else:
        pytest.fail("sokha never reached the requester's set")

    standing = WorkerSkill.objects.get(worker__username="sokha", skill="transcription:km")
    assert standing.state == "qualified" and answered_training >= 10
    answers = Assignment.objects.filter(
        task_set=task_set, worker__username="sokha", status="submitted"
    ).select_related("task")
    assert answers and all(a.answer == TEXT_OF[a.task.external_id] for a in answers)
    worker.close()
