"""Records that cross the boundary between the proxy and the usage worker.

The proxy fills a TokenUsage as bytes go by and hands one UsageRecord per exchange to
`usage.pipeline.record`. Both hold primitives only, so they travel through the broker as
JSON.

A body field always holds the body as it went by. The proxy gives the bytes (or the kept
chunks, joined off the event loop); the payload carries them zlib-compressed, and the
worker gets them back as `Compressed`, so that they are stored without a second
compression. `body_raw` and `body_compressed` read either form.
"""

import base64
import re
import zlib
from dataclasses import dataclass, field, fields

from django.db.models import TextChoices

from providers.spec import Provider
from providers.tokens import TokenUsage


class Outcome(TextChoices):
    """How an exchange ended, as the proxy saw it; `UsageLog.outcome` stores it."""

    OK = "ok"
    UPSTREAM_ERROR = "upstream_error"
    CLIENT_DISCONNECTED = "client_disconnected"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    RESPONSE_TOO_LARGE = "response_too_large"
    # The web process died during the call (usage.journal): logged with what was known.
    INTERRUPTED = "interrupted"


@dataclass(slots=True)
class UsageRecord:
    """Everything the worker needs to write one UsageLog. Primitives only."""

    id: str
    organization_id: str
    endpoint_id: str
    endpoint_slug: str
    provider: Provider
    path: str
    started_at: float  # epoch seconds
    duration_ms: int
    status_code: int | None
    outcome: Outcome
    # Usage is partial: the exchange ended before the provider's final usage arrived.
    incomplete: bool = False
    streamed: bool = False
    ttfb_ms: int | None = None
    request_model: str = ""
    usage: TokenUsage = field(default_factory=TokenUsage)
    upstream_request_id: str = ""
    user_agent: str = ""
    key_hint: str = ""
    # The Codecosts key (x-codecosts-key) the call was made with; "" for none.
    api_key_id: str = ""
    claude_code_session_id: str = ""
    session_name: str = ""
    # The attribution headers as received, by name (usage.attribution reads them).
    attribution: dict[str, str] = field(default_factory=dict)
    response_content_type: str = ""
    request_body: "Body" = b""
    response_body: "Body" = b""
    request_size: int = 0
    response_size: int = 0
    request_truncated: bool = False
    response_truncated: bool = False
    # The bodies were left out on the way: a batch holding them could not be delivered.
    bodies_dropped: bool = False
    # Left out on purpose, never kept by the proxy (the endpoint's store_bodies, the
    # call's x-codecosts-omit): "request", "response", "all" or "" (OMITS).
    omitted: str = ""


# What a call's bodies may leave out (UsageLogBody.omitted): both is "all".
OMITS = ("request", "response", "all")

# x-codecosts-user: the person a call names (usage.attribution), as budgets match it too.
PERSON_MAX = 100
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def header_text(value: str) -> str:
    """A header value as the client meant it: UTF-8 when its bytes are (ASGI gives latin-1)."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def person_from_header(value: str) -> str:
    """x-codecosts-user as the log keeps it: read as UTF-8, stripped, cut to PERSON_MAX
    characters; "" when it holds control characters."""
    value = header_text(value).strip()
    if CONTROL_CHARACTERS.search(value):
        return ""
    return value[:PERSON_MAX].rstrip()


class Compressed(bytes):
    """A body as zlib-compressed bytes: how the payload carries it and UsageLogBody stores it."""


# The body as it went by: bytes, the chunks kept as they came, or those bytes compressed.
Body = bytes | list[bytes] | Compressed


def body_raw(body: Body) -> bytes:
    if isinstance(body, Compressed):
        return zlib.decompress(body) if body else b""
    return b"".join(body) if isinstance(body, list) else body


def body_compressed(body: Body) -> Compressed:
    if isinstance(body, Compressed):
        return body
    raw = body_raw(body)
    # Level 1: the web process compresses every body on its way out, and a Claude Code
    # request is hundreds of KB. On a 285 KB conversation level 6 took 25.7 ms to make it
    # 31% of its size, level 1 3.5 ms for 36% (benchmarks/worker_ingest.py measures both
    # processes' cost per call).
    return Compressed(zlib.compress(raw, 1) if raw else b"")


def record_to_payload(record: UsageRecord) -> dict:
    """The record as JSON-safe primitives, bodies zlib-compressed and base64-encoded."""
    payload = _primitives(record)
    for name in _BODY_FIELDS:
        payload[name] = base64.b64encode(body_compressed(getattr(record, name))).decode("ascii")
    return payload


def record_summary(record: UsageRecord) -> dict:
    """The record as a payload without its bodies (flagged): cheap enough for the event
    loop, as the journal keeps it."""
    payload = _primitives(record)
    payload.update(request_body="", response_body="", bodies_dropped=True)
    return payload


def _primitives(record: UsageRecord) -> dict:
    payload = {name: getattr(record, name) for name in _FIELD_NAMES}
    payload["usage"] = record.usage.to_dict()
    return payload


def record_from_payload(payload: dict) -> UsageRecord:
    """Rebuild a record; its bodies stay zlib-compressed (`Compressed`, as they are stored)."""
    values = {k: v for k, v in payload.items() if k in _ALL_FIELD_NAMES}
    values["usage"] = TokenUsage.from_dict(values.get("usage") or {})
    # Asserted at the boundary: an outcome or provider the model does not know is a bug,
    # told here.
    values["outcome"] = Outcome(values["outcome"])
    values["provider"] = Provider(values["provider"])
    for name in _BODY_FIELDS:
        encoded = values.get(name) or ""
        values[name] = Compressed(base64.b64decode(encoded))
    return UsageRecord(**values)


_BODY_FIELDS = ("request_body", "response_body")
_ALL_FIELD_NAMES = frozenset(f.name for f in fields(UsageRecord))
_FIELD_NAMES = _ALL_FIELD_NAMES - set(_BODY_FIELDS)

# A broker message carries at most this many payloads, and this many bytes of them
# (bodies included, so none comes near Redis's limit of 512 MB a value).
BATCH_SIZE = 100
BATCH_MAX_BYTES = 8 * 1024 * 1024


def payload_bytes(payload: dict) -> int:
    """About what a payload weighs in a broker message: its bodies, and a little for the rest."""
    return len(payload["request_body"]) + len(payload["response_body"]) + 1024


def batches(payloads: list[dict]):
    """Consecutive batches of at most BATCH_SIZE payloads and BATCH_MAX_BYTES (a payload
    heavier than that travels alone)."""
    batch, size = [], 0
    for payload in payloads:
        weight = payload_bytes(payload)
        if batch and (len(batch) >= BATCH_SIZE or size + weight > BATCH_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(payload)
        size += weight
    if batch:
        yield batch


def without_bodies(payload: dict) -> dict:
    """The payload with its bodies left out, flagged: its usage row still lands."""
    return {**payload, "request_body": "", "response_body": "", "bodies_dropped": True}

