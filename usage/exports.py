"""CSV export of usage logs, streamed: rows are read with .iterator() and written as they go,
so an export of millions of calls never sits in memory."""

import csv
import json
from collections.abc import AsyncIterator, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

from usage.money import dollars_exact

# (CSV header, UsageLog field) in column order.
COLUMNS = (
    ("started_at", "started_at"),
    ("id", "id"),
    ("endpoint", "endpoint_slug"),
    ("provider", "provider"),
    ("path", "path"),
    ("model", "model"),
    ("outcome", "outcome"),
    ("status_code", "status_code"),
    ("streamed", "streamed"),
    ("session", "session__name"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_write_5m_tokens", "cache_write_5m_tokens"),
    ("cache_write_1h_tokens", "cache_write_1h_tokens"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("reasoning_tokens", "reasoning_tokens"),
    ("web_search_requests", "web_search_requests"),
    ("cost_usd", "cost_cents"),
    ("ttfb_ms", "ttfb_ms"),
    ("duration_ms", "duration_ms"),
    ("person", "person"),
    ("person_source", "person_source"),
    ("agent_id", "agent_id"),
    ("parent_agent_id", "parent_agent_id"),
    ("request_class", "request_class"),
    ("agent_type", "agent_type"),
    ("tags", "tags"),  # joined with ","
    ("properties", "properties"),  # a JSON object, {} for none
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV
# injection"); the text columns hold what clients chose (model, session, path, person,
# tags).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500
ITERATOR_CHUNK_SIZE = 2000


class _Line:
    """A file-like object whose write() returns what it was given (for csv.writer)."""

    def write(self, value: str) -> str:
        return value


def _cell(field: str, value) -> object:
    if value is None:
        return ""
    if field == "cost_cents":
        return dollars_exact(value)
    if field == "started_at":
        return value.isoformat()
    if field == "tags":
        value = ",".join(value)  # a tag never holds a comma (usage.attribution splits on it)
    elif field == "properties":
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    # Every text cell, numbers aside (they are ints here, never text).
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def usage_log_csv(logs: QuerySet) -> Iterator[str]:
    """The logs as CSV text, newest first, in chunks of ROWS_PER_CHUNK lines."""
    writer = csv.writer(_Line())
    fields = [field for _, field in COLUMNS]
    yield writer.writerow([header for header, _ in COLUMNS])
    rows = (
        logs.order_by("-started_at", "-id")
        .values_list(*fields)
        .iterator(chunk_size=ITERATOR_CHUNK_SIZE)
    )
    chunk: list[str] = []
    for row in rows:
        chunk.append(writer.writerow([_cell(f, v) for f, v in zip(fields, row, strict=True)]))
        if len(chunk) >= ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def as_async(chunks: Iterable[str]) -> AsyncIterator[str]:
    """Serve a sync generator under ASGI without Django first reading it all into a list.

    Each chunk is produced in the request's thread (thread_sensitive), where its
    database connection and server-side cursor live.
    """
    iterator = iter(chunks)
    done = object()

    async def generate():
        while True:
            chunk = await sync_to_async(next, thread_sensitive=True)(iterator, done)
            if chunk is done:
                return
            yield chunk

    return generate()
