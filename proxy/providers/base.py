"""What every provider meter offers the proxy, and pure request inspection.

A meter reads the response bytes as they pass and keeps a `TokenUsage`. It runs on the
event loop for every chunk, so it parses only the events that can carry usage, keeps
only the unfinished tail of the stream, and never raises into the proxy: a malformed
event is ignored.
"""

import logging
from dataclasses import dataclass

import orjson

from proxy.providers.sse import SSESplitter
from usage.records import TokenUsage

logger = logging.getLogger(__name__)

_WS = b" \t\r\n"


class UsageMeter:
    """Keep the usage of one exchange from its streamed events or its whole body."""

    __slots__ = ("usage", "_sse")

    def __init__(self) -> None:
        self.usage = TokenUsage()
        self._sse = SSESplitter()

    def feed(self, chunk: bytes) -> None:
        """Read one chunk of a streaming (SSE) response as it goes by."""
        try:
            events = self._sse.feed(chunk)
        except Exception:  # noqa: BLE001 - metering must never break the proxied stream
            logger.debug("SSE splitting failed", exc_info=True)
            return
        for name, data in events:
            self._event(name, data)

    def close(self) -> None:
        """End of stream: meter an event the upstream left without its closing blank line."""
        try:
            events = self._sse.flush()
        except Exception:  # noqa: BLE001
            logger.debug("SSE flush failed", exc_info=True)
            return
        for name, data in events:
            self._event(name, data)

    def feed_body(self, body: bytes) -> None:
        """Read a whole non-streaming JSON response body."""
        try:
            obj = orjson.loads(body)
        except (orjson.JSONDecodeError, TypeError):
            return
        if not isinstance(obj, dict):
            return
        try:
            self.on_body(obj)
        except Exception:  # noqa: BLE001 - a body of an unexpected shape is not metered
            logger.debug("usage body not understood", exc_info=True)

    def _event(self, name: str, data: bytes) -> None:
        try:
            self.on_event(name, data)
        except Exception:  # noqa: BLE001 - one malformed event must not stop the meter
            logger.debug("SSE event %r not understood", name, exc_info=True)

    # Provider hooks.

    def on_event(self, name: str, data: bytes) -> None:
        """Handle one complete SSE event; `name` is "" when it had no `event:` line."""

    def on_body(self, body: dict) -> None:
        """Handle a parsed non-streaming JSON body."""


# Helpers shared by the provider meters.


def as_int(value: object) -> int | None:
    """A token count from JSON, or None for null and anything that is not an integer."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def as_str(value: object) -> str | None:
    return value if type(value) is str else None


def as_dict(value: object) -> dict:
    return value if type(value) is dict else {}


def event_type(name: str, data: bytes) -> str:
    """The event's name, else the `"type"` its data opens with (for streams without names)."""
    if name:
        return name
    if data.startswith(b'{"type":"'):
        end = data.find(b'"', 9)
        if end > 0:
            return data[9:end].decode("utf-8", "replace")
    return ""


def has_value(data: bytes, key: bytes, first: int) -> bool:
    """Whether JSON text holds `key` (quoted) with a value starting with byte `first`.

    A cheap pre-check that lets a meter skip parsing chunks that cannot matter, tolerant
    of whitespace around the colon. A false positive only costs a parse.
    """
    n = len(data)
    i = data.find(key)
    while i >= 0:
        j = i + len(key)
        while j < n and data[j] in _WS:
            j += 1
        if j < n and data[j] == 0x3A:  # ":"
            j += 1
            while j < n and data[j] in _WS:
                j += 1
            if j < n and data[j] == first:
                return True
        i = data.find(key, i + 1)
    return False


def error_from(error: object) -> tuple[str, str]:
    """(type, message) of a provider error object (Anthropic's or OpenAI's shape)."""
    error = as_dict(error)
    kind = as_str(error.get("type")) or as_str(error.get("code")) or ""
    message = as_str(error.get("message")) or ""
    return kind, message


# Requests.


@dataclass(slots=True, frozen=True)
class RequestInfo:
    """What the proxy needs from a request body before forwarding it."""

    model: str = ""
    stream: bool = False
    metadata_user_id: str = ""
    claude_code_session_id: str = ""
    # OpenAI chat: stream_options.include_usage, without which a stream reports no usage.
    include_usage: bool = False


_EMPTY_REQUEST = RequestInfo()


def request_info(body: bytes) -> RequestInfo:
    """Inspect a request body (either provider); an unreadable body gives an empty RequestInfo."""
    try:
        obj = orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError):
        return _EMPTY_REQUEST
    if type(obj) is not dict:
        return _EMPTY_REQUEST
    user_id = as_str(as_dict(obj.get("metadata")).get("user_id")) or ""
    return RequestInfo(
        model=as_str(obj.get("model")) or "",
        stream=obj.get("stream") is True,
        metadata_user_id=user_id,
        claude_code_session_id=claude_code_session_id(user_id),
        include_usage=as_dict(obj.get("stream_options")).get("include_usage") is True,
    )


def claude_code_session_id(user_id: str) -> str:
    """The Claude Code session id carried in `metadata.user_id`, or "".

    Claude Code 2.1.78+ sends a JSON string with `session_id`; earlier versions send
    `user_<hex>_account_<uuid>_session_<uuid>` (the account part may be empty).
    """
    if not user_id:
        return ""
    if user_id[0] == "{":
        try:
            obj = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return ""
        return (as_str(as_dict(obj).get("session_id")) or "").strip()
    if user_id.startswith("user_"):
        _, sep, session = user_id.rpartition("_session_")
        if sep:
            return session.strip()
    return ""


# Which meter reads which exchange.


def meter_for(provider: str, path: str) -> UsageMeter | None:
    """A fresh meter for a call logged with usage, or None (e.g. count_tokens, models).

    `path` is the upstream path without the `/proxy/<slug>` or `/openai` prefix, e.g.
    "/v1/messages?beta=true".
    """
    # Imported here: the provider modules import this one.
    from proxy.providers.anthropic import AnthropicMeter
    from proxy.providers.openai import (
        OpenAIChatMeter,
        OpenAIEmbeddingsMeter,
        OpenAIResponsesMeter,
    )

    path = path.partition("?")[0]
    if len(path) > 1:
        path = path.rstrip("/")
    provider = provider.lower()
    if provider == "anthropic":
        if path == "/v1/messages":
            return AnthropicMeter()
        return None
    if provider == "openai":
        meter = {
            "/v1/chat/completions": OpenAIChatMeter,
            "/v1/responses": OpenAIResponsesMeter,
            "/v1/embeddings": OpenAIEmbeddingsMeter,
        }.get(path)
        return meter() if meter else None
    return None
