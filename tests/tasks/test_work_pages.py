"""The work page and its HTTP fallback: plain form posts over the same services."""

import re
import uuid

import pytest
from django.urls import reverse

from tasks.models import Assignment, Task
from tests.work_helpers import published_set, vetted_workers

pytestmark = pytest.mark.django_db


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org,
        requester=requester,
        admin=admin_user,
        regular=3,
        gold=5,
        assignments_per_task=1,
        gold_ratio_permille=0,
    )


def held(worker):
    return Assignment.objects.get(worker=worker, status="active")


def test_opening_the_page_never_claims(client, vetted_worker, animals):
    client.force_login(vetted_worker)
    page = client.get(reverse("work_page"))
    assert page.status_code == 200 and "Get a task" in page.content.decode()
    assert not Assignment.objects.exists()
    assert client.get(reverse("work_claim")).status_code == 405


def test_the_fallback_claims_answers_and_moves_on(client, vetted_worker, animals):
    client.force_login(vetted_worker)
    client.post(reverse("work_claim"))
    first = held(vetted_worker)
    page = client.get(reverse("work_page")).content.decode()
    submission_id = re.search(r'name="submission_id" value="([^"]+)"', page).group(1)
    form = {
        "assignment": first.pk,
        "answer": "bird",
        "submission_id": submission_id,
        "seconds": "7",
        "next": "1",
    }
    response = client.post(reverse("work_submit"), form)
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.status, first.answer, first.seconds_spent) == ("submitted", "bird", 7)
    second = held(vetted_worker)  # "next": the following task was claimed at once
    assert second.task_id != first.task_id
    # The browser re-posts the same form (a double tap, a retry): nothing new.
    client.post(reverse("work_submit"), {**form, "next": ""})
    assert Assignment.objects.filter(worker=vetted_worker, status="submitted").count() == 1
    assert held(vetted_worker).pk == second.pk


def test_the_fallback_reports_a_bad_answer_and_keeps_the_task(client, vetted_worker, animals):
    client.force_login(vetted_worker)
    client.post(reverse("work_claim"))
    assignment = held(vetted_worker)
    response = client.post(
        reverse("work_submit"),
        {"assignment": assignment.pk, "answer": "cow", "submission_id": str(uuid.uuid4())},
        follow=True,
    )
    assert "Choose one of the set" in response.content.decode()
    assert held(vetted_worker).pk == assignment.pk


def test_skip_and_report_through_the_fallback(client, vetted_worker, animals):
    client.force_login(vetted_worker)
    client.post(reverse("work_claim"))
    assignment = held(vetted_worker)
    client.post(reverse("work_release"), {"assignment": assignment.pk, "reason": "disturbing"})
    assignment.refresh_from_db()
    assert (assignment.status, assignment.release_reason) == ("released", "disturbing")


def test_a_worker_cannot_touch_another_workers_assignment(client, vetted_worker, animals):
    (other,) = vetted_workers(1)
    client.force_login(other)
    client.post(reverse("work_claim"))
    theirs = held(other)
    client.force_login(vetted_worker)
    response = client.post(
        reverse("work_submit"),
        {"assignment": theirs.pk, "answer": "cat", "submission_id": str(uuid.uuid4())},
    )
    assert response.status_code == 404
    assert client.get(reverse("work_image", args=[theirs.pk])).status_code == 404


def test_work_pages_are_for_vetted_workers_only(client, applicant, requester, animals):
    for user in (applicant, requester):
        client.force_login(user)
        assert client.get(reverse("work_page")).status_code == 403
        assert client.post(reverse("work_claim")).status_code == 403


def test_the_image_is_served_only_to_its_worker_under_an_opaque_address(
    client, vetted_worker, animals, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    task = Task.objects.filter(task_set=animals, is_gold=False).first()
    task.image_derivative.save("tasks/random-name.webp", _webp_bytes(), save=True)
    Task.objects.filter(task_set=animals, is_gold=False).exclude(pk=task.pk).update(is_open=False)
    client.force_login(vetted_worker)
    client.post(reverse("work_claim"))
    assignment = held(vetted_worker)
    assert assignment.task_id == task.pk
    page = client.get(reverse("work_page")).content.decode()
    url = reverse("work_image", args=[assignment.pk])
    assert url in page and "random-name" not in page
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:4] == b"RIFF"
    assert "private" in response["Cache-Control"]


def _webp_bytes():
    from io import BytesIO

    from django.core.files.base import ContentFile
    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "WEBP")
    return ContentFile(buffer.getvalue())


def test_the_work_page_makes_no_third_party_requests(client, vetted_worker, animals):
    client.force_login(vetted_worker)
    client.post(reverse("work_claim"))
    html = client.get(reverse("work_page")).content.decode()
    assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html)


def test_the_work_page_speaks_khmer(client, vetted_worker, animals):
    client.force_login(vetted_worker)
    client.post(reverse("set_language"), {"language": "km", "next": "/work/"})
    html = client.get(reverse("work_page")).content.decode()
    assert 'lang="km"' in html and "Get a task" not in html


def test_non_ascii_digits_are_refused_not_a_server_error(client, vetted_worker, animals):
    client.force_login(vetted_worker)
    assert client.post(reverse("work_claim"), {"set": "²"}).status_code == 302
    assert client.post(reverse("work_release"), {"assignment": "²"}).status_code == 404
    client.post(reverse("work_claim"))
    assignment = held(vetted_worker)
    response = client.post(
        reverse("work_submit"),
        {
            "assignment": assignment.pk,
            "answer": "cat",
            "submission_id": str(uuid.uuid4()),
            "seconds": "²",
        },
    )
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.status == "submitted" and assignment.seconds_spent is None


def test_instructions_are_for_workers_the_set_is_open_to(client, vetted_worker, animals):
    client.force_login(vetted_worker)
    url = reverse("work_instructions", args=[animals.pk])
    assert client.get(url).status_code == 200
    animals.language = "fr"  # a language this worker does not read, and no work done
    animals.save(update_fields=["language"])
    assert client.get(url).status_code == 404


def test_seconds_beyond_the_databases_integer_are_ignored_not_a_server_error(
    client, vetted_worker, animals
):
    client.force_login(vetted_worker)
    client.post(reverse("work_claim"))
    assignment = held(vetted_worker)
    response = client.post(
        reverse("work_submit"),
        {
            "assignment": assignment.pk,
            "answer": "cat",
            "submission_id": str(uuid.uuid4()),
            "seconds": str(2**31),  # digits the page accepts, past PostgreSQL's integer
        },
    )
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.status == "submitted" and assignment.seconds_spent is None
