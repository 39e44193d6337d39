"""Keyset ("cursor") paging over (timestamp, pk), shared by the API and the pages.

A cursor is the url-safe base64 of the last row's (timestamp as ISO 8601, pk), so rows
added meanwhile never shift a page and rows sharing a timestamp are neither skipped nor
repeated. Never OFFSET: a deep page costs what the first one does.
"""

import base64
import binascii
from datetime import UTC, datetime

from django.db.models import Q


class CursorError(ValueError):
    """A cursor this application did not make."""


def cursor_encode(timestamp: datetime, pk) -> str:
    raw = f"{timestamp.astimezone(UTC).isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, pk text) of a cursor; CursorError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.split("|", 1)
        timestamp = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise CursorError("invalid cursor") from error
    if timestamp.tzinfo is None or not pk:
        raise CursorError("invalid cursor")
    return timestamp, pk


def keyset_after(field: str, timestamp: datetime, pk, *, descending: bool) -> Q:
    """Rows strictly after (timestamp, pk) in the given direction.

    The plain bound on `field` alone is redundant logically but lets the database use
    the (…, field, pk) index as a range condition: without it the OR is only a filter
    and page n scans every row of the pages before it.
    """
    op = "lt" if descending else "gt"
    bound = Q(**{f"{field}__{op}e": timestamp})
    return bound & (Q(**{f"{field}__{op}": timestamp}) | Q(**{field: timestamp, f"pk__{op}": pk}))
