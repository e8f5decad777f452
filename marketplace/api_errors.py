"""One error format for every API failure:
{"error": {"code": "...", "message": "...", "details": ...}}"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from marketplace.rows import RowErrors


def _error(code: str, message: str, http_status: int, details=None) -> Response:
    body = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return Response(body, status=http_status)


def exception_handler(exc, context):
    if isinstance(exc, RowErrors):
        return _error(
            "invalid_file",
            f"The file has {exc.total} problem(s); nothing was created.",
            status.HTTP_400_BAD_REQUEST,
            exc.as_dicts(),
        )
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else None
        return _error("invalid", " ".join(exc.messages), status.HTTP_400_BAD_REQUEST, details)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return _error(
            "invalid", "The request has invalid fields.", response.status_code, response.data
        )
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    message = response.data.get("detail", "") if isinstance(response.data, dict) else ""
    return _error(str(code), str(message), response.status_code)
