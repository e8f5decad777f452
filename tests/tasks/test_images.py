import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from marketplace.rows import RowErrors
from tasks.images import ImageRejected, process_image
from tasks.models import Task, TaskSet
from tasks.uploads import upload_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def photo(width=2000, height=1500, *, orientation=None, gps=False, fmt="JPEG") -> bytes:
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (11.0, 33.0, 0.0)}
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes() if (orientation or gps) else b"")
    return buffer.getvalue()


def test_derivative_is_small_webp_and_metadata_is_gone():
    processed = process_image(photo(orientation=6, gps=True))
    # Orientation 6 means "rotate 90°": the stored image is upright, 1500 x 2000.
    assert (processed.width, processed.height) == (1500, 2000)
    small = Image.open(io.BytesIO(processed.derivative))
    assert small.format == "WEBP" and max(small.size) == 640
    assert len(processed.derivative) <= 40_000
    original = Image.open(io.BytesIO(processed.original))
    assert not original.getexif()  # no GPS, no orientation tag, nothing


def test_not_an_image_is_refused():
    with pytest.raises(ImageRejected, match="Not a readable image"):
        process_image(b"%PDF-1.4 definitely not a picture")


def test_decompression_bomb_is_refused_before_decoding(settings):
    buffer = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(buffer, "PNG")  # a few KB on disk, 900 M pixels
    assert len(buffer.getvalue()) < 200_000
    with pytest.raises(ImageRejected):
        process_image(buffer.getvalue())


def test_limits_on_pixels_and_bytes(settings):
    settings.IMAGE_MAX_PIXELS = 1000
    with pytest.raises(ImageRejected, match="limit is 1000 pixels"):
        process_image(photo(100, 100))
    settings.IMAGE_MAX_BYTES = 10
    with pytest.raises(ImageRejected, match="larger than 10 bytes"):
        process_image(photo(100, 100))


def make_zip(manifest: str, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.csv", manifest)
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def transcription_set(requester, requester_org):
    return TaskSet.objects.create(
        organization=requester_org, created_by=requester, title="Forms", kind="transcription",
        reward_minor=8,
    )  # fmt: skip


def stored_files() -> list[str]:
    _dirs, originals = (
        default_storage.listdir("tasks/originals")
        if default_storage.exists("tasks/originals")
        else ([], [])
    )
    _dirs, derivatives = (
        default_storage.listdir("tasks") if default_storage.exists("tasks") else ([], [])
    )
    return originals + derivatives


def test_zip_upload_stores_random_names_and_gold_looks_like_the_rest(requester, transcription_set):
    data = make_zip(
        "external_id,image,gold_answer\n"
        "f1,scans/form-001.jpg,\n"
        "gold-1,scans/GOLD-answer.jpg,Phnom Penh\n",
        {"scans/form-001.jpg": photo(900, 600), "scans/GOLD-answer.jpg": photo(900, 600)},
    )
    assert (
        upload_tasks(task_set=transcription_set, actor=requester, data=data, filename="forms.zip")
        == 2
    )
    regular, gold = Task.objects.get(external_id="f1"), Task.objects.get(external_id="gold-1")
    assert gold.is_gold and gold.gold_answer == "Phnom Penh"
    for task in (regular, gold):
        assert task.image_derivative.name.startswith(
            "tasks/"
        ) and task.image_derivative.name.endswith(".webp")
        assert (
            "form" not in task.image_derivative.name.lower()
            and "gold" not in task.image_derivative.name.lower()
        )
        assert default_storage.exists(task.image_derivative.name) and default_storage.exists(
            task.image.name
        )
    assert len(regular.image_derivative.name) == len(gold.image_derivative.name)


def test_bad_zip_rows_are_named_and_nothing_is_kept(requester, transcription_set):
    data = make_zip(
        "external_id,image\nf1,a.jpg\nf2,missing.jpg\nf3,notes.txt\nf4,\n",
        {"a.jpg": photo(300, 200), "notes.txt": b"hello"},
    )
    with pytest.raises(RowErrors) as caught:
        upload_tasks(task_set=transcription_set, actor=requester, data=data, filename="forms.zip")
    assert {(e.line, e.field) for e in caught.value.errors} == {
        (3, "image"),
        (4, "image"),
        (5, "image"),
    }
    assert not Task.objects.exists()
    assert stored_files() == []  # the good image processed before the errors was removed


def test_zip_bombs_and_missing_manifests_are_refused(requester, transcription_set, settings):
    settings.ZIP_MAX_UNCOMPRESSED_BYTES = 1000
    data = make_zip("external_id,image\n", {"big.bin": b"0" * 5000})
    with pytest.raises(RowErrors, match="expands beyond"):
        upload_tasks(task_set=transcription_set, actor=requester, data=data, filename="x.zip")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("other.csv", "x")
    with pytest.raises(RowErrors, match=r"no manifest\.csv"):
        upload_tasks(
            task_set=transcription_set, actor=requester, data=buffer.getvalue(), filename="x.zip"
        )
    with pytest.raises(RowErrors, match="Not a readable ZIP"):
        upload_tasks(task_set=transcription_set, actor=requester, data=b"PK nope", filename="x.zip")
