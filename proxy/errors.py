"""Errors Codecosts itself returns on proxy routes, in the provider's own shape.

SDKs then raise their usual typed errors (anthropic.RateLimitError, openai.NotFoundError...).
"""

import orjson
from django.conf import settings
from django.http import HttpResponse

ANTHROPIC = "anthropic"
OPENAI = "openai"

# HTTP status -> Anthropic error type (https://docs.anthropic.com/en/api/errors).
_ANTHROPIC_TYPES = {
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
# HTTP status -> OpenAI error type.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "server_error",
}


def is_proxy_path(path: str) -> bool:
    """Whether a path is a proxy route, whose every answer is in the provider's shape."""
    return path.startswith("/proxy/") or path == "/proxy" or (
        settings.LOCAL_MODE and path.startswith(("/anthropic", "/openai"))
    )


def provider_for_path(path: str) -> str:
    """The provider a proxy path speaks for: /proxy/<slug>/openai/... and /openai/... are OpenAI."""
    if path.startswith("/openai/"):
        return OPENAI
    if path.startswith("/proxy/"):
        rest = path[len("/proxy/"):]
        slash = rest.find("/")
        if slash != -1 and rest[slash:].startswith("/openai/"):
            return OPENAI
    return ANTHROPIC


def error_body(provider: str, status: int, message: str, code: str | None = None) -> bytes:
    if provider == OPENAI:
        error = {
            "message": message,
            "type": _OPENAI_TYPES.get(status, "server_error"),
            "param": None,
            "code": code,
        }
        return orjson.dumps({"error": error})
    error_type = _ANTHROPIC_TYPES.get(status, "api_error")
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


def error_response(
    provider: str, status: int, message: str, *, code: str | None = None, headers=None
) -> HttpResponse:
    response = HttpResponse(
        error_body(provider, status, message, code),
        status=status,
        content_type="application/json",
        headers=headers,
    )
    return response


def stream_error_event(provider: str, status: int, message: str) -> bytes:
    """An SSE error event for a stream that already started and cannot change status."""
    body = error_body(provider, status, message)
    if provider == OPENAI:
        return b"data: " + body + b"\n\n"
    return b"event: error\ndata: " + body + b"\n\n"
