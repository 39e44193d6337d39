"""OpenAI's error shape, for errors the proxy itself answers: the SDKs then raise their
usual typed errors."""

import orjson

# HTTP status -> OpenAI error type.
_TYPES = {
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


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    error = {"message": message, "type": _TYPES.get(status, "server_error"), "param": None, "code": code}
    return orjson.dumps({"error": error})


def stream_error_event(status: int, message: str) -> bytes:
    """A `data:` chunk carrying the error, for a stream that already started."""
    return b"data: " + error_body(status, message) + b"\n\n"
