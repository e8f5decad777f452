"""Example images for instructions: uploaded like task images, served from our own
site to the set's requesters and workers only."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from tasks.markdown import render_instructions
from tasks.models import ExampleImage
from tests.tasks.test_images import photo
from tests.work_helpers import published_set, vetted_workers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def animals(requester_org, requester, admin_user):
    return published_set(organization=requester_org, requester=requester, admin=admin_user)


def upload(client, task_set, data: bytes, name="stop-sign.jpg"):
    return client.post(
        reverse("task_set_example_upload", args=[task_set.pk]),
        {"image": SimpleUploadedFile(name, data)},
        follow=True,
    )


def test_an_example_image_is_stored_small_and_shown_in_the_instructions(
    client, requester, vetted_worker, animals
):
    client.force_login(requester)
    page = upload(client, animals, photo(gps=True)).content.decode()
    example = ExampleImage.objects.get(task_set=animals)
    markdown = f"![stop-sign.jpg]({reverse('example_image', args=[animals.pk, example.pk])})"
    assert markdown in page
    stored = Image.open(example.image.open("rb"))
    assert stored.format == "WEBP" and max(stored.size) <= 640
    assert not stored.getexif()
    assert "<img" in render_instructions(markdown)

    client.force_login(vetted_worker)
    response = client.get(reverse("example_image", args=[animals.pk, example.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"


def test_outsiders_and_workers_the_set_is_not_open_to_cannot_fetch_it(
    client, requester, outsider, animals, centre
):
    client.force_login(requester)
    upload(client, animals, photo())
    example = ExampleImage.objects.get(task_set=animals)
    url = reverse("example_image", args=[animals.pk, example.pk])
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    (elsewhere,) = vetted_workers(1, languages=["fr"])
    animals.language = "km"
    animals.save(update_fields=["language"])
    client.force_login(elsewhere)
    assert client.get(url).status_code == 404


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_kept(
    client, requester, animals, settings
):
    client.force_login(requester)
    response = upload(client, animals, b"GIF89a not really", name="fake.gif")
    assert response.status_code == 400
    assert "Not a readable image" in response.content.decode()
    assert not ExampleImage.objects.exists()
    examples_dir = settings.MEDIA_ROOT / "examples"
    assert not examples_dir.exists() or not any(examples_dir.iterdir())


def test_only_the_sets_own_members_may_add_examples(client, outsider, animals):
    client.force_login(outsider)
    response = upload(client, animals, photo())
    assert response.status_code == 404
    assert not ExampleImage.objects.exists()


def test_a_failed_save_removes_the_stored_file(requester, animals, settings, monkeypatch):
    from tasks import services

    def no_audit(**kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(services, "record_audit", no_audit)
    with pytest.raises(RuntimeError):
        services.add_example_image(
            task_set_id=animals.pk, actor=requester, data=photo(), filename="x.jpg"
        )
    examples_dir = settings.MEDIA_ROOT / "examples"
    assert not examples_dir.exists() or not any(examples_dir.iterdir())
    assert not ExampleImage.objects.exists()


def test_the_page_lists_examples_with_their_markdown(client, requester, animals):
    client.force_login(requester)
    upload(client, animals, photo())
    page = client.get(reverse("task_set_detail", args=[animals.pk])).content.decode()
    assert re.search(r"<code>!\[stop-sign\.jpg\]\(/work/sets/\d+/examples/\d+\)</code>", page)
