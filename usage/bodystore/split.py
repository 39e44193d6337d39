"""A request body cut at its JSON structure into pieces and the rest, and put together again.

Claude Code sends the whole conversation on every call, so the system blocks, the tools
and every earlier message of a request were in the one before. Each element of the
top-level `system`, `tools`, `messages` and `input` arrays (or such a value whole, when
it is not an array) of at least MIN_PIECE bytes is a *piece*, stored once per
organization under its digest (usage.bodystore.store); the *skeleton* is every other
byte, in order. The manifest says which piece goes where:

    manifest = (digest: 16 bytes, offset: 4 bytes big-endian) per piece, in order

where offset is the position in the skeleton at which the piece's bytes go. The pieces
are the body's own bytes, cut where its values start and end, so joining them again is
byte-exact: whitespace, key order, escapes and numbers stay as written. A body that is
not a UTF-8 JSON object, or holds no piece, or is under MIN_BODY bytes, is not cut.
"""

import hashlib
import json
import struct
from dataclasses import dataclass

SPLIT_KEYS = frozenset({"system", "tools", "messages", "input"})
# Smaller elements stay in the skeleton: a piece costs a row and 20 bytes of manifest.
MIN_PIECE = 64
# Smaller bodies are not cut: cutting one costs the shipper more (about 30 us for 1 KB)
# than storing it whole (about 15 us), for a saving of a few hundred bytes.
MIN_BODY = 4096
DIGEST_SIZE = 16
_ENTRY = struct.Struct(">16sI")
_WHITESPACE = " \t\n\r"
_decoder = json.JSONDecoder()


@dataclass(slots=True)
class Split:
    skeleton: bytes
    # (offset in the skeleton, digest, the piece's bytes), in order.
    pieces: list[tuple[int, bytes, bytes]]
    # The body parsed (the split reads it whole anyway): what request facts are read from.
    parsed: dict

    @property
    def manifest(self) -> bytes:
        return b"".join(_ENTRY.pack(digest, offset) for offset, digest, _ in self.pieces)


def digest(piece: bytes) -> bytes:
    return hashlib.blake2b(piece, digest_size=DIGEST_SIZE).digest()


def split(body: bytes) -> Split | None:
    """The body cut into its skeleton and pieces; None when it is not cut."""
    if len(body) < MIN_BODY:
        return None
    try:
        text = body.decode("utf-8")
        return _split(text)
    except (UnicodeDecodeError, ValueError):
        return None


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _expect(text: str, at: int, char: str) -> int:
    if at >= len(text) or text[at] != char:
        raise ValueError(f"expected {char!r} at {at}")
    return at + 1


def _split(text: str) -> Split | None:
    skeleton: list[bytes] = []
    length = 0  # of the skeleton so far, in bytes
    pieces: list[tuple[int, bytes, bytes]] = []
    parsed: dict = {}
    start = 0  # where the current literal run began

    def cut(begin: int, end: int) -> None:
        nonlocal start, length
        head = text[start:begin].encode()
        skeleton.append(head)
        length += len(head)
        piece = text[begin:end].encode()
        pieces.append((length, digest(piece), piece))
        start = end

    at = _expect(text, _skip(text, 0), "{")
    at = _skip(text, at)
    if at < len(text) and text[at] == "}":
        return None
    while True:
        key, at = _decoder.raw_decode(text, _skip(text, at))
        if type(key) is not str:
            raise ValueError("a key that is not a string")
        at = _skip(text, _expect(text, _skip(text, at), ":"))
        if key in SPLIT_KEYS and at < len(text) and text[at] == "[":
            items = []
            at = _skip(text, at + 1)
            if at < len(text) and text[at] == "]":
                at += 1
            else:
                while True:
                    item, end = _decoder.raw_decode(text, at)
                    items.append(item)
                    if end - at >= MIN_PIECE:
                        cut(at, end)
                    at = _skip(text, end)
                    if at < len(text) and text[at] == ",":
                        at = _skip(text, at + 1)
                        continue
                    at = _expect(text, at, "]")
                    break
            value = items
        else:
            value, end = _decoder.raw_decode(text, at)
            if key in SPLIT_KEYS and end - at >= MIN_PIECE:
                cut(at, end)
            at = end
        parsed[key] = value
        at = _skip(text, at)
        if at < len(text) and text[at] == ",":
            at += 1
            continue
        at = _expect(text, at, "}")
        break
    if _skip(text, at) != len(text) or not pieces:
        return None
    skeleton.append(text[start:].encode())
    return Split(skeleton=b"".join(skeleton), pieces=pieces, parsed=parsed)


def manifest_entries(manifest: bytes) -> list[tuple[bytes, int]]:
    """(digest, offset) per piece, in order."""
    return [(d, offset) for d, offset in _ENTRY.iter_unpack(bytes(manifest))]


def join(skeleton: bytes, manifest: bytes, pieces: dict[bytes, bytes]) -> bytes:
    """The body again, from its skeleton, manifest and pieces (by digest). KeyError names
    a piece that is missing."""
    parts, at = [], 0
    for piece_digest, offset in manifest_entries(manifest):
        parts.append(skeleton[at:offset])
        parts.append(pieces[piece_digest])
        at = offset
    parts.append(skeleton[at:])
    return b"".join(parts)
