"""Anthropic Messages API: the usage meter (hot path).

Stream usage (https://docs.claude.com/en/docs/build-with-claude/streaming):
`message_start` carries input, cache and a placeholder output count; each
`message_delta` carries cumulative totals, so a non-null value replaces the earlier one
and is never added. The 5-minute/1-hour cache-write split exists only in `message_start`.

Besides the top-level usage the meter keeps what pricing needs to bill a call part by part
(usage.pricing.parts): `usage.iterations` (advisor calls, compaction, fallback attempts;
repeated whole by each `message_delta`), `stop_reason` with `stop_details` (a refusal's
category), the model the request asked for, and the `fallback` content blocks of a
server-side fallback. Field names are the SDK's (anthropic-sdk-python
`types/beta/beta_iterations_usage.py`, `beta_refusal_stop_details.py`,
`beta_fallback_block.py`).
"""

import re

import orjson

from providers.base import UsageMeter, as_dict, as_int, as_str, error_from, event_type
from providers.tokens import TokenUsage

# The only events that can carry usage, a stop reason or an error; content_block_* and
# ping events (nearly all of a stream) are skipped without parsing. A content_block_start
# is parsed only when it may open a `fallback` block (one per declined hop).
_PARSED = frozenset({"message_start", "message_delta", "error"})
_FALLBACK = b'"fallback"'
# What each of those (and message_stop) holds: a read of other events is passed unsplit.
_WANTED = re.compile(rb"message_|error|" + re.escape(_FALLBACK))


class AnthropicMeter(UsageMeter):
    """Meter a `/v1/messages` exchange, streaming or not."""

    __slots__ = ("_cache_1h",)
    WANTED = _WANTED

    def __init__(self) -> None:
        super().__init__()
        self._cache_1h = 0  # from message_start; message_delta only repeats the flat total

    def on_event(self, name: str, data: bytes) -> None:
        name = event_type(name, data)
        if name == "message_stop":
            self.usage.final = True
            return
        if name not in _PARSED:
            if name == "content_block_start" and _FALLBACK in data:
                obj = orjson.loads(data)
                if type(obj) is dict:
                    self._fallback_block(as_dict(obj.get("content_block")), relabel=True)
            return
        obj = orjson.loads(data)
        if type(obj) is not dict:
            return
        usage = self.usage
        if name == "message_start":
            message = as_dict(obj.get("message"))
            self._message(message)
            # A stream starts under the model the request named; a fallback block may
            # relabel it later (as the SDK's stream accumulator does).
            usage.request_model = usage.model
            if type(message.get("usage")) is dict:
                usage.seen = True
        elif name == "message_delta":
            delta = as_dict(obj.get("delta"))
            stop_reason = as_str(delta.get("stop_reason"))
            if stop_reason:
                usage.stop_reason = stop_reason
            _stop_details(usage, delta.get("stop_details"))
            if type(obj.get("usage")) is dict:
                self._usage(obj["usage"])
                usage.seen = True
            usage.final = True
        else:  # error
            usage.error_type, usage.error_message = error_from(obj.get("error"))

    def on_body(self, body: dict) -> None:
        if body.get("type") == "error":
            self.usage.error_type, self.usage.error_message = error_from(body.get("error"))
            return
        self._message(body)
        content = body.get("content")
        if type(content) is list:
            for block in content:
                if type(block) is dict and block.get("type") == "fallback":
                    self._fallback_block(block, relabel=False)
        # A body is relabelled to the model that served it; the first declined hop names
        # the model the request asked for.
        usage = self.usage
        usage.request_model = usage.fallbacks[0]["from"] if usage.fallbacks else usage.model
        if type(body.get("usage")) is dict:
            usage.seen = usage.final = True

    def _message(self, message: dict) -> None:
        usage = self.usage
        model = as_str(message.get("model"))
        if model:
            usage.model = model
        stop_reason = as_str(message.get("stop_reason"))
        if stop_reason:
            usage.stop_reason = stop_reason
        _stop_details(usage, message.get("stop_details"))
        if type(message.get("usage")) is dict:
            self._usage(message["usage"])

    def _fallback_block(self, block: dict, *, relabel: bool) -> None:
        if block.get("type") != "fallback":
            return
        to_model = as_str(as_dict(block.get("to")).get("model")) or ""
        self.usage.fallbacks.append(
            {
                "from": as_str(as_dict(block.get("from")).get("model")) or "",
                "to": to_model,
                "category": as_str(as_dict(block.get("trigger")).get("category")),
            }
        )
        if relabel and to_model:
            self.usage.model = to_model

    def _usage(self, data: dict) -> None:
        """Apply a usage object: every non-null field replaces what was known."""
        usage = self.usage
        value = as_int(data.get("input_tokens"))
        if value is not None:
            usage.input_tokens = value
        value = as_int(data.get("output_tokens"))
        if value is not None:
            usage.output_tokens = value
        value = as_int(data.get("cache_read_input_tokens"))
        if value is not None:
            usage.cache_read_tokens = value

        split = data.get("cache_creation")
        if type(split) is dict:
            one_hour = as_int(split.get("ephemeral_1h_input_tokens"))
            if one_hour is not None:
                self._cache_1h = one_hour
            five_min = as_int(split.get("ephemeral_5m_input_tokens"))
            if five_min is not None or one_hour is not None:
                usage.cache_write_1h_tokens = self._cache_1h
                usage.cache_write_5m_tokens = five_min or 0
        flat = as_int(data.get("cache_creation_input_tokens"))
        if flat is not None:
            # The flat total wins; what the split does not put at 1 hour was written for
            # 5 minutes (all of it when no split was ever given).
            usage.cache_write_1h_tokens = min(self._cache_1h, flat)
            usage.cache_write_5m_tokens = flat - usage.cache_write_1h_tokens

        details = data.get("output_tokens_details")
        if type(details) is dict:
            # Already inside output_tokens: a breakdown, never added.
            value = as_int(details.get("thinking_tokens"))
            if value is not None:
                usage.reasoning_tokens = value

        tools = data.get("server_tool_use")
        if type(tools) is dict:
            value = as_int(tools.get("web_search_requests"))
            if value is not None:
                usage.web_search_requests = value
            value = as_int(tools.get("web_fetch_requests"))
            if value is not None:
                usage.web_fetch_requests = value

        iterations = data.get("iterations")
        if type(iterations) is list:
            # Each message_delta repeats the whole list: the latest replaces it.
            usage.iterations = [_iteration(entry) for entry in iterations if type(entry) is dict]

        for field in ("inference_geo", "service_tier", "speed"):
            value = as_str(data.get(field))
            if value:
                setattr(usage, field, value)


def _stop_details(usage: TokenUsage, details: object) -> None:
    # Only what pricing and the log need: the fallback credit token is not kept.
    if type(details) is dict:
        usage.stop_details = {
            "type": as_str(details.get("type")) or "",
            "category": as_str(details.get("category")),
            "explanation": as_str(details.get("explanation")),
        }


def _iteration(entry: dict) -> dict:
    """One `usage.iterations` entry in TokenUsage's vocabulary (providers.tokens.ITERATION_KEYS)."""
    flat = as_int(entry.get("cache_creation_input_tokens")) or 0
    split = as_dict(entry.get("cache_creation"))
    one_hour = min(as_int(split.get("ephemeral_1h_input_tokens")) or 0, flat)
    return {
        "type": as_str(entry.get("type")) or "",
        # Absent from compaction entries (the request's model writes the summary).
        "model": as_str(entry.get("model")) or "",
        "input_tokens": as_int(entry.get("input_tokens")) or 0,
        "output_tokens": as_int(entry.get("output_tokens")) or 0,
        "cache_write_5m_tokens": flat - one_hour,
        "cache_write_1h_tokens": one_hour,
        "cache_read_tokens": as_int(entry.get("cache_read_input_tokens")) or 0,
    }
