"""A log's request and response bodies as a reader wants them: decompressed, decoded,
and a stream's final message rebuilt by its provider's reassembler."""

from dataclasses import dataclass

import orjson

from providers.registry import PROVIDERS, spec_for
from providers.requests import RequestInfo, request_info
from providers.tokens import TokenUsage
from usage.bodystore.store import body_decompress, request_bytes
from usage.models import UsageLog, UsageLogBody

# Which function rebuilds the final response object of a stream, by (provider, path).
_REASSEMBLERS = {
    (spec.provider.value, path): reassemble
    for spec in PROVIDERS.values()
    for path, reassemble in spec.reassemblers.items()
}


@dataclass(frozen=True, slots=True)
class LogBodies:
    """A log's bodies as a reader wants them."""

    request_body: object = None
    response_body: object = None
    # The final message rebuilt from a stream; None for a non-streamed response.
    response_message: dict | None = None
    request_size: int = 0
    response_size: int = 0
    request_truncated: bool = False
    response_truncated: bool = False
    # Pieces of the request the body store does not hold (lost on the way): not shown.
    request_missing_pieces: int = 0


def usage_log_bodies(log: UsageLog) -> LogBodies:
    """Decompress and decode a log's bodies: JSON where they are JSON, else text.

    A stream's response stays its raw SSE text, and `response_message` is the final
    message rebuilt from it by the provider's reassembler (as far as the stream went).
    """
    try:
        body = log.body
    except UsageLogBody.DoesNotExist:
        return LogBodies()
    raw_request, missing = request_bytes(log.organization_id, body)
    raw_response = body_decompress(body.response_body)
    is_stream = log.streamed or body.response_content_type.startswith("text/event-stream")
    response_message = None
    if is_stream:
        response_body = _text(raw_response)
        path = log.path.partition("?")[0]
        reassembler = _REASSEMBLERS.get((log.provider, path.rstrip("/") or "/"))
        if reassembler is not None and raw_response:
            response_message = reassembler(raw_response)
    else:
        response_body = _json_or_text(raw_response)
    return LogBodies(
        request_body=_json_or_text(raw_request),
        response_body=response_body,
        response_message=response_message,
        request_size=body.request_size,
        response_size=body.response_size,
        request_truncated=body.request_truncated,
        response_truncated=body.response_truncated,
        request_missing_pieces=missing,
    )


def _text(raw: bytes) -> str | None:
    return raw.decode("utf-8", errors="replace") if raw else None


def _json_or_text(raw: bytes):
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Truncated or not JSON at all.
        return _text(raw)


def usage_log_metered(log: UsageLog, body: UsageLogBody | None) -> tuple[TokenUsage, RequestInfo] | None:
    """The usage the provider's meter reads again from a log's stored response body, and
    what its request body says; None when the body is not whole (cut off, dropped, absent)
    or holds no usage. This is how a log is repriced under new rules (recompute_costs)."""
    if body is None or body.response_truncated or body.dropped or not body.response_body:
        return None
    meter = spec_for(log.provider).meter_for(log.path.partition("?")[0].rstrip("/") or "/")
    if meter is None:
        return None
    raw = body_decompress(body.response_body)
    if log.streamed or body.response_content_type.startswith("text/event-stream"):
        meter.feed(raw)
        meter.close()
    else:
        meter.feed_body(raw)
    if not meter.usage.seen:
        return None
    request = b"" if body.request_truncated else request_bytes(log.organization_id, body)[0]
    return meter.usage, request_info(request) if request else RequestInfo()
