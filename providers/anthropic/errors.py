"""Anthropic's error shape (https://docs.anthropic.com/en/api/errors), for errors the proxy
itself answers: the SDKs then raise their usual typed errors."""

import orjson

# HTTP status -> Anthropic error type.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    431: "invalid_request_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    """Anthropic's error object; it has no `code` field, so `code` is not sent."""
    error_type = _TYPES.get(status, "api_error")
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


def stream_error_event(status: int, message: str) -> bytes:
    """The `error` event of a stream that already started and cannot change status."""
    return b"event: error\ndata: " + error_body(status, message) + b"\n\n"
