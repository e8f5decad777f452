"""Gzip for what a phone downloads: pages, and static files WhiteNoise has no
compressed copy of (every static file under DEBUG, where `make run` serves them
straight from static/ so edits show at once).

Above WhiteNoise in settings.MIDDLEWARE, so it sees static responses too; WhiteNoise's
pre-compressed files (production's CompressedManifestStaticFilesStorage) already carry
Content-Encoding and pass untouched. Only text is compressed: images are already.

BREACH (guessing a secret in a compressed page from the size of responses that
reflect the attacker's input): Django masks the CSRF token afresh in every response,
and its GZipMiddleware pads each response with random bytes (Heal the BREACH). The
few pages that print a secret (a new API key, workers' set-up codes) are sent
uncompressed anyway, with @uncompressed: they are rare and small."""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware

COMPRESSIBLE_TYPES = (
    "text/",
    "application/javascript",
    "application/json",
    "application/xml",
    "application/manifest+json",
    "image/svg+xml",
)


class CompressionMiddleware(GZipMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if (
            getattr(response, "holds_secret", False)
            # A byte range of the file as stored: compressing it would make it another.
            or response.status_code == 206
            or not response.get("Content-Type", "").startswith(COMPRESSIBLE_TYPES)
        ):
            return response
        return super().process_response(request, response)


def uncompressed(view: Callable) -> Callable:
    """For a view whose page shows a secret: never gzipped (see BREACH above)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response.holds_secret = True
        return response

    return wrapper
