"""One metered call, from the upstream's answer to the one usage record it hands over.

The call is journalled when the Exchange is made, just before it is forwarded
(`usage.pipeline.started`: one small write), so a kill of this process cannot make it
vanish; the header values journalled are redacted first (by `usage.pipeline.started`:
a dictionary lookup per value once seen). What the call's bodies leave out is decided here
too (`omitted`): a body left out is never kept, only its size counted; the meter still
reads every byte, so usage and cost are logged whatever is omitted. The view fills the Exchange as the call goes (status, time to first byte, the
bytes kept for the log); `finish` decides the outcome and whether the usage is
incomplete, builds the `UsageRecord` and queues it on `usage.pipeline` (constant time,
never raises).
"""

import logging
import time
import uuid

from django.conf import settings

from proxy.headers import attribution_headers, key_hint
from usage import pipeline
from usage.records import OMITS, Outcome, UsageRecord

logger = logging.getLogger("codecosts.proxy")


# What a call's bodies leave out: the endpoint's store_bodies, then the call's
# x-codecosts-omit; the stricter wins (the request and the response together: "all"). An
# unknown header value is ignored here, and told in the log's warnings (usage.attribution).
_ENDPOINT_OMITS = {"full": "", "request_only": "response", "metadata_only": "all"}
_OMIT_UNION = {
    (a, b): a if a == b or not b else b if not a else "all" for a in ("", *OMITS) for b in ("", *OMITS)
}


def bodies_omitted(store_bodies: str, header: str | None) -> str:
    """What the call's bodies leave out: "", "request", "response" or "all"."""
    endpoint = _ENDPOINT_OMITS.get(store_bodies, "")
    if header is None:
        return endpoint
    return _OMIT_UNION.get((endpoint, header.strip().lower()), endpoint)


class Exchange:
    """One metered call: what was seen of it, and its one usage record."""

    __slots__ = (
        "log_id", "facts", "provider", "t0", "ttfb_ms", "meter", "request_body", "status",
        "streamed", "upstream_request_id", "response_parts", "response_size", "response_kept",
        "response_content_type", "done", "keep_response",
    )

    def __init__(self, *, endpoint, api_key_id, provider, path, body, seen_headers, meter):
        self.log_id = str(uuid.uuid4())
        self.provider = provider
        omitted = bodies_omitted(endpoint.store_bodies, seen_headers.get(b"x-codecosts-omit"))
        # What is known before the answer: journalled now, the record's first fields later.
        self.facts = {
            "id": self.log_id,
            "organization_id": endpoint.organization_id,
            "endpoint_id": endpoint.id,
            "endpoint_slug": endpoint.slug,
            "provider": provider,
            "path": path,
            "started_at": time.time(),
            "api_key_id": api_key_id,
            "user_agent": seen_headers.get(b"user-agent", "")[:512],
            "key_hint": key_hint(seen_headers),
            # The request's model and metadata are read by the worker, not here.
            "claude_code_session_id": seen_headers.get(b"x-claude-code-session-id", "")[:128],
            "session_name": seen_headers.get(b"x-codecosts-session", "")[:200],
            # Who and which agent: read and validated by the worker (usage.attribution).
            "attribution": attribution_headers(seen_headers),
            "request_size": len(body),
            "omitted": omitted,
        }
        self.t0 = time.perf_counter()
        self.ttfb_ms = None
        self.meter = meter
        # An omitted request is never referenced here: the view forwards it and lets it go.
        self.request_body = b"" if omitted in ("request", "all") else body
        self.keep_response = omitted not in ("response", "all")
        self.status = None
        self.streamed = False
        self.upstream_request_id = ""
        self.response_parts = []
        self.response_size = 0
        self.response_kept = 0
        self.response_content_type = ""
        self.done = False
        try:
            pipeline.started(self.log_id, self.facts)
        except Exception:  # noqa: BLE001 - logging must never fail the client's request
            logger.exception("could not journal the start of %s", self.log_id)

    def journal_usage(self) -> bool:
        """The stream's first usage is known: journal it (unless final: the call's end is
        journalled next), so that a kill of this process before the end still logs what
        the provider bills (usage.journal). True: done, once is enough."""
        if self.meter.usage.final:
            return True
        try:
            pipeline.seen(self.log_id, self.meter.usage)
        except Exception:  # noqa: BLE001 - logging must never fail the client's request
            logger.exception("could not journal the usage of %s", self.log_id)
        return True

    def keep(self, chunk: bytes) -> None:
        """Keep response bytes for the log, up to LOG_BODY_MAX_BYTES (none when the
        response is omitted); count all of them."""
        self.response_size += len(chunk)
        if not self.keep_response:
            return
        room = settings.LOG_BODY_MAX_BYTES - self.response_kept
        if room > 0:
            part = chunk if len(chunk) <= room else chunk[:room]
            self.response_parts.append(part)
            self.response_kept += len(part)

    def finish(self, outcome: Outcome, *, incomplete: bool = False, status: int | None = None) -> None:
        """Hand the exchange's one record to the usage pipeline. Idempotent, never raises.

        `status`: what the client got instead of the provider's status (a 502 for a body
        cut off, say); a log's status is always the one the client saw.
        """
        if self.done:
            return
        self.done = True
        if status is not None:
            self.status = status
        try:
            usage = self.meter.usage
            if outcome == Outcome.OK and usage.error_type:
                outcome = Outcome.UPSTREAM_ERROR  # an error event inside a 200 stream
            if outcome in (Outcome.CLIENT_DISCONNECTED, Outcome.UPSTREAM_TIMEOUT):
                incomplete = True
            elif self.streamed and (outcome != Outcome.OK or (usage.seen and not usage.final)):
                # The stream ended before the provider's final usage.
                incomplete = True
            limit = settings.LOG_BODY_MAX_BYTES
            body = self.request_body
            pipeline.record(
                UsageRecord(
                    **self.facts,
                    duration_ms=int((time.perf_counter() - self.t0) * 1000),
                    ttfb_ms=self.ttfb_ms,
                    status_code=self.status,
                    outcome=outcome,
                    incomplete=incomplete,
                    streamed=self.streamed,
                    usage=usage,
                    upstream_request_id=self.upstream_request_id,
                    response_content_type=self.response_content_type,
                    request_body=body if len(body) <= limit else body[:limit],
                    request_truncated=len(body) > limit,
                    response_body=self.response_parts,
                    response_size=self.response_size,
                    response_truncated=self.keep_response and self.response_size > self.response_kept,
                )
            )
        except Exception:  # noqa: BLE001 - logging must never fail the client's request
            logger.exception("could not hand over usage record %s", self.log_id)
