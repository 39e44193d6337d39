"""Records that cross the boundary between the proxy and the usage worker.

The proxy fills a TokenUsage as bytes go by and hands one UsageRecord per exchange to
`usage.pipeline.record`. Both hold primitives only, so they travel through the broker as
JSON.

A body field always holds the body as it went by. The proxy gives the bytes (or the kept
chunks, joined off the event loop); the payload carries them zlib-compressed, and the
worker gets them back as `Compressed`, so that they are stored without a second
compression. `body_raw` and `body_compressed` read either form.

A request body that the body store cuts (usage.bodystore.split) travels as its skeleton
(in `request_body`), its manifest, and only those of its pieces that this process has
not sent lately; what the worker needs from the body (model, Claude Code's session, the
first prompt) is read while it is cut, and travels as `request_facts`.
"""

import base64
import re
import zlib
from dataclasses import dataclass, field, fields

from django.db.models import TextChoices

from providers.requests import RequestInfo, request_info_from
from providers.spec import Provider
from providers.tokens import TokenUsage
from usage.bodystore.recent import RecentPieces
from usage.bodystore.split import split


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
    # Set from a payload (the worker's side): a cut request's manifest, the pieces that
    # travelled with it as (digest, size, compressed bytes), and what its body says.
    request_manifest: bytes = b""
    request_pieces: list[tuple[bytes, int, "Compressed"]] = field(default_factory=list)
    request_facts: RequestInfo | None = None
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


# Pieces and skeletons are compressed once, where they are first sent, so harder than
# whole bodies (level 1, above): most of a request is pieces sent before.
PIECE_COMPRESSION = 6


def record_to_payload(record: UsageRecord, recent: RecentPieces | None = None) -> dict:
    """The record as JSON-safe primitives, bodies zlib-compressed and base64-encoded; a
    request body cut into pieces carries those not in `recent` (all, without it)."""
    payload = _primitives(record)
    payload["response_body"] = _b64(body_compressed(record.response_body))
    payload.update(_request_fields(record, recent))
    return payload


def _request_fields(record: UsageRecord, recent: RecentPieces | None) -> dict:
    kept = {"request_manifest": _b64(record.request_manifest), "request_facts": _facts(record.request_facts)}
    pieces = [[digest.hex(), size, _b64(data)] for digest, size, data in record.request_pieces]
    cut = None
    if not record.request_manifest and not record.request_truncated and not isinstance(record.request_body, Compressed):
        cut = split(body_raw(record.request_body))
    if cut is None:
        return {**kept, "request_body": _b64(body_compressed(record.request_body)), "request_pieces": pieces}
    carried = set()
    for _, digest, piece in cut.pieces:
        if digest not in carried and (recent is None or recent.first(record.organization_id, digest)):
            carried.add(digest)
            pieces.append([digest.hex(), len(piece), _b64(zlib.compress(piece, PIECE_COMPRESSION))])
    return {
        "request_body": _b64(zlib.compress(cut.skeleton, PIECE_COMPRESSION)),
        "request_manifest": _b64(cut.manifest),
        "request_pieces": pieces,
        "request_facts": _facts(request_info_from(cut.parsed)),
    }


def _facts(info: RequestInfo | None) -> dict | None:
    """RequestInfo as JSON gives it back (lists, not tuples)."""
    if info is None:
        return None
    facts = {name: getattr(info, name) for name in _FACT_NAMES}  # asdict() takes 10 us more
    facts["fallback_speeds"] = [list(pair) for pair in info.fallback_speeds]
    return facts


_FACT_NAMES = tuple(f.name for f in fields(RequestInfo))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def record_summary(record: UsageRecord) -> dict:
    """The record as a payload without its bodies (flagged): cheap enough for the event
    loop, as the journal keeps it."""
    payload = _primitives(record)
    payload.update(_NO_BODIES)
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
    for name in ("request_body", "response_body"):
        values[name] = Compressed(base64.b64decode(values.get(name) or ""))
    values["request_manifest"] = base64.b64decode(values.get("request_manifest") or "")
    values["request_pieces"] = [
        (bytes.fromhex(digest), size, Compressed(base64.b64decode(data)))
        for digest, size, data in values.get("request_pieces") or ()
    ]
    facts = values.get("request_facts")
    if facts is not None:
        facts["fallback_speeds"] = tuple(tuple(pair) for pair in facts.get("fallback_speeds") or ())
        values["request_facts"] = RequestInfo(**facts)
    return UsageRecord(**values)


# The bodies, and what a cut request travels as beside its skeleton: left out of a
# journal's lines and of a record delivered without its bodies.
BODY_FIELDS = ("request_body", "response_body", "request_manifest", "request_pieces", "request_facts")
_NO_BODIES = {"request_body": "", "response_body": "", "request_manifest": "", "request_pieces": [], "bodies_dropped": True}
_ALL_FIELD_NAMES = frozenset(f.name for f in fields(UsageRecord))
_FIELD_NAMES = _ALL_FIELD_NAMES - set(BODY_FIELDS)

# A broker message carries at most this many payloads, and this many bytes of them
# (bodies included, so none comes near Redis's limit of 512 MB a value).
BATCH_SIZE = 100
BATCH_MAX_BYTES = 8 * 1024 * 1024


def payload_bytes(payload: dict) -> int:
    """About what a payload weighs in a broker message: its bodies, and a little for the rest."""
    pieces = sum(len(data) + 64 for _, _, data in payload.get("request_pieces") or ())
    return len(payload["request_body"]) + len(payload["response_body"]) + pieces + 1024


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
    """The payload with its bodies left out, flagged: its usage row still lands (and what
    its request said, read before it travelled)."""
    return {**payload, **_NO_BODIES}

