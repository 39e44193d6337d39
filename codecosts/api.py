"""Shared REST API machinery: the JSON error shape and cursor pagination.

Every API error has one shape, close to the providers' own so clients handle it alike:

    {"error": {"type": "invalid_request_error", "message": "name: This field is required.",
               "code": "required", "fields": {"name": ["This field is required."]}}}

`code` is a stable machine-readable reason when there is one; `fields` appears for
validation errors and keeps every message per field (nested fields joined with dots).
"""

import re
from datetime import datetime

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from codecosts.keyset import cursor_decode, cursor_encode, keyset_after

_DIGITS = re.compile(r"[0-9]{1,9}")

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def request_too_large_message() -> str:
    return (
        f"The request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes "
        "accepted."
    )


def error_type_for_status(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(
    status: int, message: str, *, code: str | None = None, fields: dict | None = None
) -> dict:
    """Return the `{"error": {...}}` document for a status and message."""
    error = {"type": error_type_for_status(status), "message": message}
    if code:
        error["code"] = code
    if fields:
        error["fields"] = fields
    return {"error": error}


def error_response(status: int, message: str, *, code: str | None = None) -> JsonResponse:
    """A plain Django JSON error response, for code outside DRF (404/500 handlers)."""
    return JsonResponse(error_body(status, message, code=code), status=status)


def _from_django_validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """Turn a service's Django ValidationError into DRF's, keeping fields and codes."""

    def details(errors):
        return [
            exceptions.ErrorDetail(message, code=error.code or "invalid")
            for error in errors
            for message in error
        ]

    if hasattr(exc, "error_dict"):
        detail = {
            (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): details(
                errors
            )
            for field, errors in exc.error_dict.items()
        }
    else:
        detail = details(exc.error_list)
    return exceptions.ValidationError(detail)


def _flatten(detail, prefix: str = "") -> dict[str, list]:
    """Map nested DRF error details to {"field.sub": [ErrorDetail, ...]}."""
    if isinstance(detail, dict):
        flat = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    if isinstance(detail, list):
        return {prefix: list(detail)} if detail else {}
    return {prefix: [detail]}


def _validation_error_body(status: int, detail) -> dict:
    non_field_key = api_settings.NON_FIELD_ERRORS_KEY
    if not isinstance(detail, dict):
        detail = {non_field_key: detail}
    flat = _flatten(detail)
    general = flat.pop(non_field_key, [])
    messages = [str(message) for message in general]
    for field, errors in flat.items():
        for message in errors:
            text = str(message)
            # "slug already taken" reads better than "slug: slug already taken".
            messages.append(text if text.startswith(f"{field} ") else f"{field}: {text}")
    all_details = general + [error for errors in flat.values() for error in errors]
    codes = {getattr(error, "code", None) for error in all_details}
    code = codes.pop() if len(codes) == 1 else "invalid"
    fields = {field: [str(message) for message in errors] for field, errors in flat.items()}
    return error_body(
        status,
        " ".join(_sentence(m) for m in messages) or "Invalid request.",
        code=code,
        fields=fields,
    )


def _sentence(message: str) -> str:
    return message if message.endswith((".", "!", "?")) else message + "."


def exception_handler(exc, context):
    """DRF's handler, answering every handled error in the shared JSON shape.

    Anything DRF does not handle (a bug) is left to Django, whose handler500 answers
    API paths with a JSON 500 and logs the traceback; none reaches the caller.
    """
    if isinstance(exc, RequestDataTooBig):
        # A client error: answered here, so Django neither says 400 nor logs a traceback.
        return Response(
            error_body(413, request_too_large_message(), code="request_too_large"), status=413
        )
    # Convert Django's exceptions here (DRF would too) so `exc` below carries a detail.
    if isinstance(exc, DjangoValidationError):
        exc = _from_django_validation_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = getattr(exc, "detail", None)
    # Validation errors, and any APIException raised with structured detail, keep fields.
    if isinstance(exc, exceptions.ValidationError) or isinstance(detail, (list, dict)):
        response.data = _validation_error_body(response.status_code, detail)
    else:
        response.data = error_body(
            response.status_code,
            str(detail) if detail is not None else str(exc),
            code=getattr(detail, "code", None),
        )
    return response


class CursorPagination(BasePagination):
    """Keyset pagination over (`cursor_field`, pk), in an order the viewset fixes.

    Response: `{"items": [...], "nextCursor": str | null, "hasMore": bool}`. The cursor
    is the url-safe base64 of the last item's (`cursor_field` as ISO 8601, pk), so pages
    stay correct while rows are added, and rows sharing a timestamp are neither skipped
    nor repeated. `cursor_field` must be a non-null datetime. Subclass to change the
    field or direction; clients can choose neither.
    """

    cursor_field = "created_at"
    descending = False
    default_limit = 20
    max_limit = 100
    cursor_query_param = "cursor"
    limit_query_param = "limit"

    has_more = False
    next_cursor: str | None = None

    @property
    def ordering(self) -> tuple[str, str]:
        sign = "-" if self.descending else ""
        return f"{sign}{self.cursor_field}", f"{sign}pk"

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        limit = self.get_limit(request)
        position = self.get_position(request, queryset.model)
        queryset = queryset.order_by(*self.ordering)
        if position is not None:
            queryset = queryset.filter(self.after(*position))
        page = list(queryset[: limit + 1])
        self.has_more = len(page) > limit
        page = page[:limit]
        self.next_cursor = self.encode_cursor(page[-1]) if self.has_more else None
        return page

    def get_paginated_response(self, data) -> Response:
        return Response({"items": data, "nextCursor": self.next_cursor, "hasMore": self.has_more})

    def get_limit(self, request) -> int:
        raw = request.query_params.get(self.limit_query_param, "")
        if raw == "":
            return self.default_limit
        message = f"{self.limit_query_param} must be an integer between 1 and {self.max_limit}"
        limit = int(raw) if _DIGITS.fullmatch(raw) else None
        if limit is None or not 1 <= limit <= self.max_limit:
            raise exceptions.ValidationError(
                {self.limit_query_param: [exceptions.ErrorDetail(message, code="invalid_limit")]}
            )
        return limit

    def after(self, timestamp: datetime, pk) -> Q:
        """Rows strictly after (timestamp, pk) in this paginator's direction."""
        return keyset_after(self.cursor_field, timestamp, pk, descending=self.descending)

    def encode_cursor(self, item) -> str:
        return cursor_encode(getattr(item, self.cursor_field), item.pk)

    def get_position(self, request, model) -> tuple[datetime, object] | None:
        cursor = request.query_params.get(self.cursor_query_param, "")
        if cursor == "":
            return None
        try:
            timestamp, pk_text = cursor_decode(cursor)
            pk = model._meta.pk.to_python(pk_text)
        except (ValueError, TypeError, DjangoValidationError):
            raise exceptions.ValidationError(
                {
                    self.cursor_query_param: [
                        exceptions.ErrorDetail(
                            f"{self.cursor_query_param} is invalid: pass the nextCursor of "
                            "a previous response",
                            code="invalid_cursor",
                        )
                    ]
                }
            ) from None
        return timestamp, pk
