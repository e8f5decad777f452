"""Large task files go to a background job: same validator, same all-or-nothing rule,
the report kept for the requester (page and API)."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tasks.models import Task, TaskSet, UploadJob
from tasks.upload_jobs import run_upload_job
from tests.tasks.test_api import api, secret  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = "external_id,text,gold,gold_answer\n" + "".join(f"t{i},Sentence {i},,\n" for i in range(30))
BAD = GOOD + "t3,Duplicate,,\nt99,,,\n"


@pytest.fixture(autouse=True)
def _background_everything(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TASK_UPLOAD_BACKGROUND_BYTES = 100  # every test file is "large"


@pytest.fixture
def draft(requester_org, requester):
    return TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Sentiment",
        kind="label",
        label_options=["positive", "negative"],
        reward_minor=5,
    )


def upload_page(client, task_set, text: str):
    return client.post(
        reverse("task_set_upload", args=[task_set.pk]),
        {"file": SimpleUploadedFile("big.csv", text.encode())},
        follow=True,
    )


def test_a_large_file_is_processed_in_the_background_and_the_page_says_so(client, requester, draft):
    client.force_login(requester)
    page = upload_page(client, draft, GOOD).content.decode()
    assert "processed in the background" in page
    job = UploadJob.objects.get(task_set=draft)
    assert (job.status, job.created_tasks) == ("succeeded", 30)
    assert Task.objects.filter(task_set=draft).count() == 30
    assert job.stored_file == ""
    assert default_storage.listdir("uploads") == ([], [])  # the stored file is gone
    page = client.get(reverse("task_set_detail", args=[draft.pk])).content.decode()
    assert "30 tasks added" in page


def test_a_bad_large_file_creates_nothing_and_its_report_names_lines(client, requester, draft):
    client.force_login(requester)
    upload_page(client, draft, BAD)
    job = UploadJob.objects.get(task_set=draft)
    assert job.status == "failed" and job.error_total == 2
    assert {(e["line"], e["field"]) for e in job.errors} == {(32, "external_id"), (33, "text")}
    assert not Task.objects.filter(task_set=draft).exists()
    page = client.get(reverse("task_set_detail", args=[draft.pk])).content.decode()
    assert "2 problems; no task was added" in page


def test_a_job_runs_once_even_if_its_message_comes_twice(client, requester, draft):
    client.force_login(requester)
    upload_page(client, draft, GOOD)
    job = UploadJob.objects.get(task_set=draft)
    again = run_upload_job(job.pk)
    assert again.status == "succeeded"
    assert Task.objects.filter(task_set=draft).count() == 30


def test_the_api_answers_202_with_a_job_to_poll(secret, draft):  # noqa: F811
    response = api(secret).post(
        reverse("api_task_upload", args=[draft.pk]),
        {"file": SimpleUploadedFile("big.csv", GOOD.encode())},
        format="multipart",
    )
    assert response.status_code == 202
    assert response.json()["status"] == "succeeded"
    polled = api(secret).get(response.json()["url"])
    assert polled.status_code == 200 and polled.json()["created_tasks"] == 30


def test_a_published_set_refuses_a_background_upload_at_once(client, requester, draft):
    TaskSet.objects.filter(pk=draft.pk).update(status="published")
    client.force_login(requester)
    response = upload_page(client, draft, GOOD)
    assert response.status_code == 400
    assert not UploadJob.objects.exists()


def test_a_set_published_while_its_file_was_processed_gets_no_tasks(requester, draft):
    job = UploadJob.objects.create(
        task_set=draft, created_by=requester, filename="big.csv", size_bytes=1
    )
    job.stored_file = default_storage.save("uploads/x.csv", ContentFile(GOOD.encode()))
    job.save()
    # Published after the job was queued, before it ran (escrow covers no new task).
    TaskSet.objects.filter(pk=draft.pk).update(status="published")
    done = run_upload_job(job.pk)
    assert done.status == "failed" and "draft" in done.errors[0]["message"]
    assert not Task.objects.filter(task_set=draft).exists()


def test_publishing_waits_for_a_file_still_being_processed(requester, draft):
    from django.core.exceptions import ValidationError

    from tasks import services

    UploadJob.objects.create(task_set=draft, created_by=requester, filename="a.zip", size_bytes=1)
    with pytest.raises(ValidationError, match="still being processed"):
        services.publish_task_set(task_set_id=draft.pk, actor=requester)


def test_a_job_whose_worker_died_is_taken_over_when_redelivered(requester, draft):
    from datetime import timedelta

    from django.utils import timezone

    job = UploadJob.objects.create(
        task_set=draft,
        created_by=requester,
        filename="big.csv",
        size_bytes=1,
        status="running",
        started_at=timezone.now() - timedelta(hours=2),
        stored_file=default_storage.save("uploads/y.csv", ContentFile(GOOD.encode())),
    )
    assert run_upload_job(job.pk).status == "succeeded"
    assert Task.objects.filter(task_set=draft).count() == 30
