"""OpenAI Chat Completions, Responses and Embeddings: the usage meters (hot path).

OpenAI's `prompt_tokens` / `input_tokens` include `cached_tokens` and `cache_write_tokens`;
TokenUsage keeps them apart (input_tokens = prompt - cached - written, cache_read_tokens =
cached, cache_write_5m_tokens = written). `completion_tokens` /
`output_tokens` already include reasoning tokens.

Chat streams report usage only when the request set `stream_options.include_usage`, in
one last chunk with `choices: []` before `data: [DONE]`
(https://platform.openai.com/docs/api-reference/chat-streaming). Responses streams carry
usage in the response of `response.completed`, `response.incomplete` or `response.failed`.
"""

import re

import orjson

from providers.base import UsageMeter, as_dict, as_int, as_str, error_from, event_type, has_value
from providers.tokens import TokenUsage

_OPEN_BRACE = 0x7B
_QUOTE = 0x22
# The events whose `response` is the finished response object (with its usage).
RESPONSE_END = frozenset({"response.completed", "response.incomplete", "response.failed"})
# What those and error events hold: a Responses read of other events is passed unsplit.
_RESPONSES_WANTED = re.compile(rb"response\.(?:completed|incomplete|failed)|error")


def _openai_error(usage: TokenUsage, error: object) -> None:
    if type(error) is dict:
        usage.error_type, usage.error_message = error_from(error)


def _read_usage(usage: TokenUsage, data: object, input_key: str, output_key: str) -> None:
    """Read an OpenAI usage object: Chat names its counts prompt_/completion_tokens, the
    Responses API input_/output_tokens; each has a `<name>_details` breakdown. Input
    includes the cached tokens, which are split out; output includes reasoning tokens."""
    if type(data) is not dict:
        return
    total = as_int(data.get(input_key))
    output = as_int(data.get(output_key))
    if total is None and output is None:
        return  # not a usage object we can read
    details = as_dict(data.get(f"{input_key}_details"))
    cached = as_int(details.get("cached_tokens")) or 0
    # GPT-5.6 and later report cache writes beside the reads, as a breakdown of the input
    # tokens (openai-python types/responses/response_usage.py InputTokensDetails and
    # types/completion_usage.py PromptTokensDetails). Their only TTL is 30 minutes
    # (prompt_cache_options.ttl), priced as the 5-minute slot: usage.pricing.table.
    written = as_int(details.get("cache_write_tokens")) or 0
    if total is not None:
        written = min(written, max(total - cached, 0))
        usage.input_tokens = max(total - cached - written, 0)
    usage.cache_read_tokens = cached
    usage.cache_write_5m_tokens = written
    if output is not None:
        usage.output_tokens = output
    reasoning = as_int(as_dict(data.get(f"{output_key}_details")).get("reasoning_tokens"))
    if reasoning is not None:
        usage.reasoning_tokens = reasoning
    usage.seen = usage.final = True


class OpenAIChatMeter(UsageMeter):
    """Meter a `/v1/chat/completions` exchange, streaming or not."""

    __slots__ = ("_probed", "done")

    def __init__(self) -> None:
        super().__init__()
        self._probed = False  # the first chunk was parsed for the model
        self.done = False  # `data: [DONE]` arrived

    def on_event(self, name: str, data: bytes) -> None:
        if data[:1] != b"{":
            data = data.strip()
            if data == b"[DONE]":
                self.done = True
            if data[:1] != b"{":
                return
        # Nearly every chunk is a content delta with `"usage":null`: parse only the first
        # (for the model) and those that can hold usage, a finish reason or an error.
        if (
            self._probed
            and not has_value(data, b'"usage"', _OPEN_BRACE)
            and not has_value(data, b'"finish_reason"', _QUOTE)
            and not has_value(data, b'"error"', _OPEN_BRACE)
        ):
            return
        self._probed = True
        obj = orjson.loads(data)
        if type(obj) is dict:
            self._completion(obj)

    def on_body(self, body: dict) -> None:
        self._completion(body)

    def _completion(self, obj: dict) -> None:
        """Read a chat.completion body or one chat.completion.chunk."""
        usage = self.usage
        _openai_error(usage, obj.get("error"))
        model = as_str(obj.get("model"))
        if model:
            usage.model = model
        tier = as_str(obj.get("service_tier"))
        if tier:
            usage.service_tier = tier
        choices = obj.get("choices")
        if type(choices) is list:
            for choice in choices:
                reason = as_str(as_dict(choice).get("finish_reason"))
                if reason:
                    usage.stop_reason = reason
                    break
        _read_usage(usage, obj.get("usage"), "prompt_tokens", "completion_tokens")


class OpenAIResponsesMeter(UsageMeter):
    """Meter a `/v1/responses` exchange, streaming or not."""

    __slots__ = ()
    WANTED = _RESPONSES_WANTED

    def on_event(self, name: str, data: bytes) -> None:
        # response.created / in_progress carry `usage: null` and echo the whole request
        # (instructions, tools): not worth parsing.
        name = event_type(name, data)
        if name in RESPONSE_END:
            obj = orjson.loads(data)
            if type(obj) is dict and type(obj.get("response")) is dict:
                self._response(obj["response"])
        elif name == "error":
            obj = orjson.loads(data)
            if type(obj) is not dict:
                return
            if type(obj.get("error")) is dict:
                _openai_error(self.usage, obj["error"])
            else:
                # {"type": "error", "code": ..., "message": ..., "param": ...}
                self.usage.error_type = as_str(obj.get("code")) or "error"
                self.usage.error_message = as_str(obj.get("message")) or ""

    def on_body(self, body: dict) -> None:
        self._response(body)

    def _response(self, response: dict) -> None:
        usage = self.usage
        _openai_error(usage, response.get("error"))
        model = as_str(response.get("model"))
        if model:
            usage.model = model
        tier = as_str(response.get("service_tier"))
        if tier:
            usage.service_tier = tier
        reason = as_str(as_dict(response.get("incomplete_details")).get("reason"))
        status = as_str(response.get("status"))
        if reason or status:
            usage.stop_reason = reason or status
        _read_usage(usage, response.get("usage"), "input_tokens", "output_tokens")


class OpenAIEmbeddingsMeter(UsageMeter):
    """Meter a `/v1/embeddings` exchange (never streamed; input tokens only)."""

    __slots__ = ()

    def on_body(self, body: dict) -> None:
        usage = self.usage
        _openai_error(usage, body.get("error"))
        model = as_str(body.get("model"))
        if model:
            usage.model = model
        data = body.get("usage")
        if type(data) is not dict:
            return
        prompt = as_int(data.get("prompt_tokens"))
        if prompt is None:
            prompt = as_int(data.get("total_tokens"))
        if prompt is None:
            return
        usage.input_tokens = prompt
        usage.seen = usage.final = True
