"""What every provider meter offers the proxy, and the JSON helpers the meters share.

A meter reads the response bytes as they pass and keeps a `TokenUsage`. It runs on the
event loop for every chunk, so it parses only the events that can carry usage, keeps
only the unfinished tail of the stream, and never raises into the proxy: a malformed
event is ignored.
"""

import logging
import re

import orjson

from providers.sse import SSESplitter
from providers.tokens import TokenUsage

logger = logging.getLogger(__name__)

_WS = b" \t\r\n"


class UsageMeter:
    """Keep the usage of one exchange from its streamed events or its whole body."""

    __slots__ = ("usage", "_sse")
    # Bytes every event the meter reads holds (its name, say). A read without them that
    # leaves the splitter at rest is passed by unsplit: most of a stream (text and tool
    # deltas) then costs one search in C. None: every read is split.
    WANTED: re.Pattern | None = None

    def __init__(self) -> None:
        self.usage = TokenUsage()
        self._sse = SSESplitter()

    def feed(self, chunk: bytes) -> None:
        """Read one chunk of a streaming (SSE) response as it goes by."""
        wanted = self.WANTED
        if wanted is not None and self._sse.rests_after(chunk) and wanted.search(chunk) is None:
            return
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
