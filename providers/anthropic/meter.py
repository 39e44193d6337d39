"""Anthropic Messages API: the usage meter (hot path).

Stream usage (https://docs.claude.com/en/docs/build-with-claude/streaming):
`message_start` carries input, cache and a placeholder output count; each
`message_delta` carries cumulative totals, so a non-null value replaces the earlier one
and is never added. The 5-minute/1-hour cache-write split exists only in `message_start`.
"""

import orjson

from providers.base import UsageMeter, as_dict, as_int, as_str, error_from, event_type

# The only events that can carry usage, a stop reason or an error; content_block_* and
# ping events (nearly all of a stream) are skipped without parsing.
_PARSED = frozenset({"message_start", "message_delta", "error"})


class AnthropicMeter(UsageMeter):
    """Meter a `/v1/messages` exchange, streaming or not."""

    __slots__ = ("_cache_1h",)

    def __init__(self) -> None:
        super().__init__()
        self._cache_1h = 0  # from message_start; message_delta only repeats the flat total

    def on_event(self, name: str, data: bytes) -> None:
        name = event_type(name, data)
        if name == "message_stop":
            self.usage.final = True
            return
        if name not in _PARSED:
            return
        obj = orjson.loads(data)
        if type(obj) is not dict:
            return
        usage = self.usage
        if name == "message_start":
            message = as_dict(obj.get("message"))
            self._message(message)
            if type(message.get("usage")) is dict:
                usage.seen = True
        elif name == "message_delta":
            stop_reason = as_str(as_dict(obj.get("delta")).get("stop_reason"))
            if stop_reason:
                usage.stop_reason = stop_reason
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
        if type(body.get("usage")) is dict:
            self.usage.seen = self.usage.final = True

    def _message(self, message: dict) -> None:
        usage = self.usage
        model = as_str(message.get("model"))
        if model:
            usage.model = model
        stop_reason = as_str(message.get("stop_reason"))
        if stop_reason:
            usage.stop_reason = stop_reason
        if type(message.get("usage")) is dict:
            self._usage(message["usage"])

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

        for field in ("inference_geo", "service_tier", "speed"):
            value = as_str(data.get(field))
            if value:
                setattr(usage, field, value)
