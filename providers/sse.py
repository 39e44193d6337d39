"""Incremental Server-Sent Events splitting for the proxy's hot path.

Reads arrive cut at arbitrary bytes. `SSESplitter.feed` returns every event completed by
a read and keeps only the unfinished tail. Line endings are normalised once per read
(`\\r\\n` and lone `\\r` become `\\n`), so event boundaries are found with one
`bytes.find(b"\\n\\n")` scan instead of a per-byte loop.

Spec: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
"""

_BOM = b"\xef\xbb\xbf"
# Event names repeat across every stream; decode each once. Bounded against odd upstreams.
_NAMES: dict[bytes, str] = {}
_NAMES_LIMIT = 256


class SSESplitter:
    """Split a byte stream into complete `(event_name, data)` Server-Sent Events.

    `event_name` is "" when the event has no `event:` line (OpenAI chat streams). `data`
    joins multiple `data:` lines with b"\\n". Events without any `data:` line, comments
    and `id:`/`retry:` fields produce nothing.

    An event growing past `max_event_bytes` without its blank line is dropped (the stream
    is skipped up to the next blank line) so a broken upstream cannot make us hold the
    whole stream.
    """

    __slots__ = ("_buf", "_cr", "_skipping", "_started", "max_event_bytes")

    def __init__(self, *, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self._buf = bytearray()  # the unfinished tail, already normalised to "\n"
        # The previous read ended in "\r": a "\n" opening the next read is its CRLF pair.
        self._cr = False
        self._skipping = False
        self._started = False
        self.max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        """Take one read; return the events it completed, in order."""
        if not chunk:
            return []
        if self._cr and chunk[0] == 0x0A:
            chunk = chunk[1:]
        if b"\r" in chunk:
            self._cr = chunk[-1] == 0x0D
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            self._cr = False
        if not chunk:
            return []

        buf = self._buf
        events: list[tuple[str, bytes]] = []
        pos = 0
        if buf:
            # Finish the pending event, then scan the rest of the read in place. _buf never
            # holds a whole separator, so the first one ends at the joint or inside the read.
            if buf[-1] == 0x0A and chunk[0] == 0x0A:
                block, pos = buf[:-1], 1
            else:
                end = chunk.find(b"\n\n")
                if end < 0:
                    buf += chunk
                    self._limit()
                    return events
                block, pos = buf + chunk[:end], end + 2
            buf.clear()
            self._emit(block, events)

        while True:
            end = chunk.find(b"\n\n", pos)
            if end < 0:
                break
            self._emit(chunk[pos:end], events)
            pos = end + 2
        if pos < len(chunk):
            buf += chunk[pos:] if pos else chunk
            self._limit()
        return events

    def rests_after(self, chunk: bytes) -> bool:
        """Whether the read would leave nothing pending, as now: it ends in a blank line,
        with no "\r" to normalise (its events are then whole whether split or not)."""
        return (
            chunk[-2:] == b"\n\n" and self._started and not self._buf and not self._cr
            and not self._skipping and b"\r" not in chunk
        )

    def _emit(self, block: bytes | bytearray, events: list) -> None:
        if self._skipping:
            self._skipping = False  # the end of a dropped oversized event
            return
        event = self._parse(block)
        if event is not None:
            events.append(event)

    def _limit(self) -> None:
        buf = self._buf
        if self._skipping or len(buf) > self.max_event_bytes:
            # Drop the oversized event; keep the last byte, the separator's possible first "\n".
            del buf[:-1]
            self._skipping = True

    def flush(self) -> list[tuple[str, bytes]]:
        """End of stream: return the pending event even without its closing blank line."""
        buf, skipping = self._buf, self._skipping
        self._buf = bytearray()
        self._cr = self._skipping = False
        if not buf or skipping:
            return []
        event = self._parse(buf)
        return [event] if event is not None else []

    def _parse(self, block: bytes | bytearray) -> tuple[str, bytes] | None:
        if not self._started:
            self._started = True
            if block.startswith(_BOM):
                block = block[3:]
        # Fast paths for the two shapes providers send: "event: x\ndata: y" and "data: y".
        if block.startswith(b"event: "):
            eol = block.find(b"\n", 7)
            if eol > 0 and block.startswith(b"data: ", eol + 1) and block.find(b"\n", eol + 7) < 0:
                return _event_name(bytes(block[7:eol])), bytes(block[eol + 7 :])
        elif block.startswith(b"data: ") and block.find(b"\n", 6) < 0:
            return "", bytes(block[6:])
        name = b""
        parts: list = []
        for line in block.split(b"\n"):
            if not line or line[0] == 0x3A:  # blank, or a ":" comment
                continue
            colon = line.find(b":")
            if colon < 0:
                field, value = line, b""
            else:
                field, value = line[:colon], line[colon + 1 :]
                if value[:1] == b" ":
                    value = value[1:]
            if field == b"data":
                parts.append(value)
            elif field == b"event":
                name = value
        if not parts:
            return None
        data = parts[0] if len(parts) == 1 else b"\n".join(parts)
        return _event_name(bytes(name)), bytes(data)


def _event_name(raw: bytes) -> str:
    name = _NAMES.get(raw)
    if name is None:
        name = raw.decode("utf-8", "replace")
        if len(_NAMES) < _NAMES_LIMIT and len(raw) <= 64:
            _NAMES[raw] = name
    return name
