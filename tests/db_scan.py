"""Find text anywhere Codecosts keeps it: every column of every table of the database,
and every file under a directory (the spool, the journal, dead letters).

For tests that a secret is stored nowhere (tests/usage/test_redaction_live.py): text and
JSON values are searched as they are, binary ones too and, when they are zlib streams
(bodies, body pieces), decompressed; files likewise, and the base64 strings in them
(spooled payloads carry bodies zlib-compressed and base64-encoded).

    hits = db_scan([b"sk-ant-api03-..."])      # [] when the database holds none
    hits = files_scan(spool_dir, [b"..."])
"""

import base64
import binascii
import json
import re
import zlib
from pathlib import Path

from django.db import connection

_BASE64 = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


def _needles(needles) -> list[bytes]:
    return [n.encode() if isinstance(n, str) else bytes(n) for n in needles]


def _inflate(data: bytes) -> bytes | None:
    """The decompressed bytes of a zlib stream (its first bytes say so), else None."""
    if len(data) < 2 or data[0] & 0x0F != 8 or (data[0] << 8 | data[1]) % 31:
        return None
    try:
        return zlib.decompressobj().decompress(data, 256 * 1024 * 1024)
    except zlib.error:
        return None


def _texts(value) -> list[bytes]:
    """What a stored value says, as bytes: itself, and decompressed when it is zlib."""
    if value is None or isinstance(value, (bool, int, float)):
        return []
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value)
        inflated = _inflate(value)
        return [value] if inflated is None else [value, inflated]
    if isinstance(value, (dict, list)):
        return [json.dumps(value, ensure_ascii=False).encode(), json.dumps(value).encode()]
    return [str(value).encode("utf-8", "surrogatepass")]


def _found(blobs: list[bytes], needles: list[bytes]) -> list[bytes]:
    return [needle for needle in needles if any(needle in blob for blob in blobs)]


def db_scan(needles, *, using=connection) -> list[str]:
    """Where any of `needles` appears in the database: "table.column (needle)" for each
    hit, [] for none. Every table, every column, every row."""
    needles = _needles(needles)
    hits = []
    with using.cursor() as cursor:
        for table in using.introspection.table_names(cursor):
            columns = [c.name for c in using.introspection.get_table_description(cursor, table)]
            cursor.execute(f"SELECT * FROM {using.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for column, value in zip(columns, row):
                    for needle in _found(_texts(value), needles):
                        hits.append(f"{table}.{column} ({needle[:24]!r}…)")
    return hits


def files_scan(directory: Path, needles) -> list[str]:
    """Where any of `needles` appears in the files under `directory`: as written, or in
    a zlib stream, or in a base64 string (decoded, and decompressed if it is zlib)."""
    needles = _needles(needles)
    hits = []
    for path in sorted(Path(directory).rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        blobs = _texts(data)
        for token in _BASE64.findall(data):
            try:
                decoded = base64.b64decode(token + b"=" * (-len(token) % 4))
            except (binascii.Error, ValueError):
                continue
            blobs += _texts(decoded)
        hits += [f"{path.name} ({needle[:24]!r}…)" for needle in _found(blobs, needles)]
    return hits
