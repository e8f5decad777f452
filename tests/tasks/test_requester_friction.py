"""What a requester reads (issue 19 point 3): upload errors on the right line with
their real cause, a negative reward called what it is (form and API), multi-label
answers as tags, image tasks with a thumbnail, and the CSV export's method column."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from marketplace.rows import RowErrors
from tasks.models import Task, TaskSet
from tasks.uploads import upload_tasks
from tests.tasks.test_images import make_zip, photo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def label_set(requester, requester_org):
    return TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Scenes",
        kind=TaskSet.Kind.MULTILABEL,
        label_options=["person", "car", "dog"],
        reward_minor=5,
    )


def test_an_unclosed_quote_is_reported_on_the_line_that_opens_it(requester, label_set):
    data = b'external_id,text\nt1,fine\nt2,"never closed\nt3,swallowed\nt4,too\n'
    with pytest.raises(RowErrors) as caught:
        upload_tasks(task_set=label_set, actor=requester, data=data, filename="x.csv")
    [error] = caught.value.errors
    assert (error.line, error.field) == (3, "file")
    assert 'A quote (") opens a field on this line and is never closed' in error.message
    assert not Task.objects.exists()


def test_an_unsupported_file_is_named_and_not_shown_as_line_0(client, requester, label_set):
    client.force_login(requester)
    upload = SimpleUploadedFile("tasks.xlsx", b"PK\x03\x04 not ours")
    response = client.post(reverse("task_set_upload", args=[label_set.pk]), {"file": upload})
    assert response.status_code == 400
    page = response.content.decode()
    assert "“tasks.xlsx” cannot be read here: upload a .csv, .jsonl or .zip file." in page
    assert "<td>whole file</td>" in page and "<td>0</td>" not in page


def test_a_negative_reward_must_be_positive_in_the_form(client, requester, requester_org):
    client.force_login(requester)
    response = client.post(
        reverse("task_set_create"),
        {
            "organization": requester_org.pk,
            "title": "Signs",
            "kind": "label",
            "label_options": "a\nb",
            "currency": "USD",
            "reward": "-0.05",
            "assignments_per_task": 3,
            "gold_ratio_percent": 10,
            "expected_seconds_per_task": 30,
            "time_limit_minutes": 10,
            "priority": 0,
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["reward"] == ["The reward must be positive."]


def test_a_negative_reward_must_be_positive_in_the_api(requester, requester_org):
    api = APIClient()
    api.force_authenticate(requester)
    response = api.post(
        "/api/v1/task-sets/",
        {
            "organization": requester_org.slug,
            "title": "Signs",
            "kind": "label",
            "label_options": ["a", "b"],
            "reward_minor": -5,
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "The reward must be positive." in response.content.decode()


def test_multilabel_answers_show_as_tags_and_image_tasks_with_a_thumbnail(
    client, requester, label_set
):
    data = make_zip(
        "external_id,image,gold_answer\nf1,a.jpg,\ng1,b.jpg,person|car\n",
        {"a.jpg": photo(300, 200), "b.jpg": photo(300, 200)},
    )
    upload_tasks(task_set=label_set, actor=requester, data=data, filename="scenes.zip")
    gold = Task.objects.get(external_id="g1")
    assert gold.gold_answer == ["person", "car"]
    client.force_login(requester)
    page = client.get(reverse("task_set_detail", args=[label_set.pk])).content.decode()
    assert '<span class="tag">person</span> <span class="tag">car</span>' in page
    assert "[&#x27;person&#x27;" not in page and "['person'" not in page
    image_url = reverse("task_set_task_image", args=[label_set.pk, gold.pk])
    assert f'src="{image_url}"' in page
    image = client.get(image_url)
    assert image.status_code == 200 and b"".join(image.streaming_content)[:4] == b"RIFF"


def test_another_organization_cannot_fetch_a_task_image(client, outsider, requester, label_set):
    data = make_zip("external_id,image\nf1,a.jpg\n", {"a.jpg": photo(300, 200)})
    upload_tasks(task_set=label_set, actor=requester, data=data, filename="scenes.zip")
    client.force_login(outsider)
    task = Task.objects.get()
    response = client.get(reverse("task_set_task_image", args=[label_set.pk, task.pk]))
    assert response.status_code == 404


def test_the_csv_export_carries_the_method_column(client, requester, label_set):
    Task.objects.create(task_set=label_set, external_id="t1", payload_text="x")
    client.force_login(requester)
    response = client.get(reverse("task_set_export", args=[label_set.pk, "csv"]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["method"] == "majority"
