"""Builders of valid domain objects for tests, with realistic defaults.

`usage_record()` is the UsageRecord the proxy hands to `usage.pipeline.record` after one
non-streamed Anthropic Messages call; override any field by keyword. Its bodies are raw
bytes, as the proxy keeps them: `usage.records.record_to_payload` compresses them for
the broker and `record_from_payload` gives them back compressed, as they are stored.
"""

import time
import uuid

import orjson

from providers.tokens import TokenUsage
from usage.records import UsageRecord

MODEL = "claude-sonnet-4-6"

MESSAGES_REQUEST = orjson.dumps(
    {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Summarise the release notes in one line."}],
    }
)

MESSAGES_RESPONSE = orjson.dumps(
    {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "Faster startup, fewer crashes."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 1200,
            "output_tokens": 300,
            "cache_creation_input_tokens": 500,
            "cache_read_input_tokens": 4000,
        },
    }
)


def token_usage(**overrides) -> TokenUsage:
    """The usage a meter reads from MESSAGES_RESPONSE: 1200 in, 300 out, 500 cache
    writes (5 min), 4000 cache reads, final."""
    values = dict(
        model=MODEL,
        input_tokens=1200,
        output_tokens=300,
        cache_write_5m_tokens=500,
        cache_read_tokens=4000,
        stop_reason="end_turn",
        seen=True,
        final=True,
    )
    values.update(overrides)
    return TokenUsage(**values)


# What token_usage() costs at claude-sonnet-4-6's prices, in cents: input $3, output $15,
# 5-minute cache writes $3.75 and cache reads $0.30 per million tokens.
TOKEN_USAGE_COST_CENTS = "1.1175"


def usage_record(**overrides) -> UsageRecord:
    """A complete record of one 200 call to /v1/messages, with a fresh log id.

    Pass `endpoint=<ProxyEndpoint>` to fill organization_id, endpoint_id and
    endpoint_slug from a real endpoint; any other keyword replaces that field.
    """
    endpoint = overrides.pop("endpoint", None)
    values = dict(
        id=str(uuid.uuid4()),
        organization_id=str(uuid.uuid4()),
        endpoint_id=str(uuid.uuid4()),
        endpoint_slug="production",
        provider="anthropic",
        path="/v1/messages",
        started_at=time.time(),
        duration_ms=1840,
        status_code=200,
        outcome="ok",
        ttfb_ms=610,
        request_model=MODEL,
        usage=token_usage(),
        upstream_request_id="req_011CSHoEeqs5C35K2UUqR7Fy",
        user_agent="claude-cli/2.1.0 (external, cli)",
        key_hint="Q3xA",
        response_content_type="application/json",
        request_body=MESSAGES_REQUEST,
        response_body=MESSAGES_RESPONSE,
        request_size=len(MESSAGES_REQUEST),
        response_size=len(MESSAGES_RESPONSE),
    )
    if endpoint is not None:
        values.update(
            organization_id=str(endpoint.organization_id),
            endpoint_id=str(endpoint.pk),
            endpoint_slug=endpoint.slug,
        )
    values.update(overrides)
    return UsageRecord(**values)


def stored_request(log) -> bytes:
    """A log's request body as the body store rebuilds it (whole, or from its pieces)."""
    from usage.bodystore.store import request_bytes

    raw, missing = request_bytes(log.organization_id, log.body)
    assert missing == 0, f"{missing} piece(s) of the request are missing"
    return raw
