"""Task images: verified with Pillow, decompression bombs refused, orientation applied
and EXIF (GPS, camera serials) stripped, plus the small derivative workers download:
at most 640 px on the long side, WebP, aiming at 40 KB or less.

Every image gets a random name and goes through the same steps, so a gold image
cannot be told from another by its URL, name or size pattern."""

import io
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
DERIVATIVE_LONG_SIDE = 640
DERIVATIVE_TARGET_BYTES = 40_000


class ImageRejected(ValueError):
    pass


@dataclass(frozen=True)
class ProcessedImage:
    original: bytes  # re-encoded without metadata
    original_name: str
    derivative: bytes  # WebP for workers
    derivative_name: str
    width: int
    height: int


def _open_checked(data: bytes) -> Image.Image:
    if len(data) > settings.IMAGE_MAX_BYTES:
        raise ImageRejected(
            _("The image is larger than %(n)d bytes.") % {"n": settings.IMAGE_MAX_BYTES}
        )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            width, height = probe.size
            probe.verify()  # structure check without decoding pixels
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ImageRejected(_("Not a readable image.")) from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected(_("Use JPEG, PNG, WebP or GIF (this is %(f)s).") % {"f": fmt})
    # Checked from the header, before any pixels are decoded: a bomb never expands.
    if width * height > settings.IMAGE_MAX_PIXELS:
        raise ImageRejected(
            _("The image is %(w)d x %(h)d pixels; the limit is %(n)d pixels.")
            % {"w": width, "h": height, "n": settings.IMAGE_MAX_PIXELS}
        )
    image = Image.open(io.BytesIO(data))
    try:
        image.load()
    except (OSError, Image.DecompressionBombError):
        raise ImageRejected(_("Not a readable image.")) from None
    return image


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)  # no exif= passed: metadata is dropped
    return buffer.getvalue()


def process_image(data: bytes) -> ProcessedImage:
    image = ImageOps.exif_transpose(_open_checked(data))
    has_alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if has_alpha else "RGB")
    original = _encode(
        image, "PNG" if has_alpha else "JPEG", **({} if has_alpha else {"quality": 92})
    )

    small = image.copy()
    small.thumbnail((DERIVATIVE_LONG_SIDE, DERIVATIVE_LONG_SIDE), Image.Resampling.LANCZOS)
    for quality in (80, 70, 60, 50, 40):
        derivative = _encode(small, "WEBP", quality=quality, method=6)
        if len(derivative) <= DERIVATIVE_TARGET_BYTES:
            break
    token = uuid.uuid4().hex
    return ProcessedImage(
        original=original,
        original_name=f"tasks/originals/{token}.{'png' if has_alpha else 'jpg'}",
        derivative=derivative,
        derivative_name=f"tasks/{uuid.uuid4().hex}.webp",  # unrelated to the original's name
        width=image.width,
        height=image.height,
    )


def derivative_response(task) -> FileResponse:
    """A task's small worker image as the response, or 404 for a task without one.
    Each caller decides first who may see it."""
    if not task.image_derivative:
        raise Http404
    return FileResponse(task.image_derivative.open("rb"))
