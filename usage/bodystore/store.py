"""Request pieces in the database: written once per organization, read to rebuild a body.

The writer (usage.services.logs) calls `pieces_write` in the transaction that writes a
batch's logs: the pieces that travelled are inserted unless present, and every piece a
manifest refers to has its `last_used` brought to the day of the latest call using it
(at most one UPDATE per piece and day), which is what retention collects by. A piece
referred to but neither present nor carried is *missing*: sent with an earlier call
whose batch another worker has not committed yet (the batch is retried: usage.tasks),
or lost with a delivery that failed. A body whose piece never comes is kept with its
manifest, and shown as incomplete.
"""

import zlib
from collections import defaultdict
from datetime import UTC, date, datetime

from django.db import connection

from usage.bodystore.split import join, manifest_entries
from usage.models import BodyPiece, UsageLogBody
from usage.records import Compressed, UsageRecord

# Digests per query: well under the parameter limits of SQLite (32766) and PostgreSQL.
_CHUNK = 2000


class PiecesMissing(Exception):
    """Some requests of a batch refer to pieces not written (yet)."""

    def __init__(self, record_ids: list[str]):
        super().__init__(f"{len(record_ids)} request(s) refer to pieces not written yet")
        self.record_ids = record_ids


def pieces_write(records: list[UsageRecord], *, missing_ok: bool = False) -> set[str]:
    """Write the pieces the batch carries and mark those it uses; the ids of the records
    whose request lacks a piece. Raises PiecesMissing for them unless `missing_ok`."""
    used: dict[str, dict[bytes, date]] = defaultdict(dict)
    carried: dict[str, dict[bytes, tuple[int, Compressed]]] = defaultdict(dict)
    users: dict[tuple[str, bytes], list[str]] = defaultdict(list)
    for record in records:
        if not record.request_manifest:
            continue
        day = datetime.fromtimestamp(record.started_at, tz=UTC).date()
        organization_pieces = used[record.organization_id]
        for digest, _ in manifest_entries(record.request_manifest):
            organization_pieces[digest] = max(day, organization_pieces.get(digest, day))
            users[record.organization_id, digest].append(record.id)
        for digest, size, data in record.request_pieces:
            carried[record.organization_id][digest] = (size, data)
    lacking: set[str] = set()
    for organization_id, pieces in used.items():
        present = _last_used(organization_id, list(pieces))
        new = [
            BodyPiece(organization_id=organization_id, digest=digest, size=size, data=data, last_used=pieces[digest])
            for digest, (size, data) in sorted(carried[organization_id].items())
            if digest in pieces and digest not in present
        ]
        # Sorted, so that two workers writing the same new pieces take their locks in
        # one order (never a deadlock).
        BodyPiece.objects.bulk_create(new, ignore_conflicts=True)
        stale: dict[date, list[bytes]] = defaultdict(list)
        for digest, last_used in sorted(present.items()):
            if last_used < pieces[digest]:
                stale[pieces[digest]].append(digest)
        for day, digests in stale.items():
            for start in range(0, len(digests), _CHUNK):
                BodyPiece.objects.filter(
                    organization_id=organization_id, digest__in=digests[start : start + _CHUNK], last_used__lt=day
                ).update(last_used=day)
        written = {piece.digest for piece in new}
        for digest in pieces:
            if digest not in present and digest not in written:
                lacking.update(users[organization_id, digest])
    if lacking and not missing_ok:
        raise PiecesMissing(sorted(lacking))
    return lacking


def _last_used(organization_id: str, digests: list[bytes]) -> dict[bytes, date]:
    """The pieces present, with their last_used. On PostgreSQL they stay locked against
    deletion until the batch commits (FOR KEY SHARE: retention's DELETE waits, then reads
    the last_used this batch raised and keeps them; other writers' UPDATEs do not wait),
    so a piece found here is not collected under a manifest being written. SQLite's
    writers take turns with retention."""
    found = {}
    for start in range(0, len(digests), _CHUNK):
        chunk = digests[start : start + _CHUNK]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT digest, last_used FROM {BodyPiece._meta.db_table} "
                    "WHERE organization_id = %s AND digest = ANY(%s) ORDER BY digest FOR KEY SHARE",
                    [organization_id, chunk],
                )
                rows = cursor.fetchall()
        else:
            rows = BodyPiece.objects.filter(organization_id=organization_id, digest__in=chunk).values_list(
                "digest", "last_used"
            )
        found.update((bytes(digest), last_used) for digest, last_used in rows)
    return found


def request_bytes(organization_id, body: UsageLogBody) -> tuple[bytes, int]:
    """A stored request's bytes, as they went by, and how many of its pieces are missing
    (then the bytes are empty)."""
    skeleton = body_decompress(body.request_body)
    if not body.request_manifest:
        return skeleton, 0
    digests = list({digest for digest, _ in manifest_entries(body.request_manifest)})
    pieces = {}
    for start in range(0, len(digests), _CHUNK):
        rows = BodyPiece.objects.filter(
            organization_id=organization_id, digest__in=digests[start : start + _CHUNK]
        ).values_list("digest", "data")
        pieces.update((bytes(digest), zlib.decompress(data)) for digest, data in rows)
    missing = len(digests) - len(pieces)
    if missing:
        return b"", missing
    return join(skeleton, body.request_manifest, pieces), 0


def body_decompress(stored) -> bytes:
    """A stored body column's bytes, decompressed."""
    data = bytes(stored or b"")
    if not data:
        return b""
    try:
        return zlib.decompress(data)
    except zlib.error:
        # Not compressed (a row written by hand): as it is.
        return data
