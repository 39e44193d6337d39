"""What the body store saves, and what it costs: bytes stored per session, old layout
beside new, every request rebuilt and compared, and the write rate of each.

    .venv/bin/python benchmarks/bodies.py [--sessions 1000] [--turns 100]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/codecosts benchmarks/bodies.py

Sessions are tests/bodies_corpus.py's: a `--turns`-turn Claude Code session grown from
a request Claude Code really sent, then a corpus of `--sessions` sessions of 1 to 60
turns. Each call goes the way production sends it, twice, into two organizations of one
scratch database (Django's test database for DATABASE_URL, SQLite by default):

- old: the request stored whole, compressed as the proxy always did (zlib level 1);
- new: through the body store (the shipper's record_to_payload with its recent-pieces
  memory, then the worker's usage_log_record_many).

Bytes stored are the bytes of the columns that hold a request (compressed body, or
skeleton, manifest and pieces with their digests), per session; on PostgreSQL also the
tables' sizes on disk. Every request is read back through the store and compared with
the bytes sent. Shipper and worker time per call are measured on the same calls, old
and new interleaved batch by batch (the machine's speed drifts).
"""

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="codecosts-bodies-"))

RESPONSE = (ROOT / "tests" / "fixtures" / "anthropic_stream_tool_use.sse").read_bytes()
BATCH = 100


def setup():
    import django

    django.setup()
    from django.db import connection

    name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    return connection, name


class Layout:
    """One organization's calls written one way; what it took and what it stored."""

    def __init__(self, name: str, split: bool):
        from accounts.services import organization_create
        from proxy.models import ProxyEndpoint
        from usage.bodystore.recent import RecentPieces

        self.name, self.split = name, split
        self.org = organization_create(name=name)
        self.endpoint = ProxyEndpoint.objects.create(organization=self.org, name=name, slug=f"{name}-{uuid.uuid4().hex[:8]}")
        self.recent = RecentPieces()
        self.calls = self.ship_seconds = self.write_seconds = 0.0
        self.pending: list[tuple[dict, bytes]] = []
        self.checked = self.mismatched = 0

    def ship(self, body: bytes, started_at: float) -> None:
        from tests.factories import usage_record
        from usage.records import body_compressed, record_to_payload

        record = usage_record(
            endpoint=self.endpoint, started_at=started_at, request_model="",
            request_body=body, request_size=len(body), response_body=RESPONSE, response_size=len(RESPONSE),
        )
        began = time.perf_counter()
        if not self.split:
            # As the proxy shipped before the body store: the whole body, level 1.
            record.request_body = body_compressed(record.request_body)
        payload = record_to_payload(record, self.recent)
        self.ship_seconds += time.perf_counter() - began
        self.pending.append((payload, body))

    def write(self) -> None:
        from usage.records import record_from_payload
        from usage.services.logs import usage_log_record_many

        batch, self.pending = self.pending, []
        if not batch:
            return
        began = time.perf_counter()
        usage_log_record_many(records=[record_from_payload(payload) for payload, _ in batch])
        self.write_seconds += time.perf_counter() - began
        self.calls += len(batch)
        self.verify(batch)

    def verify(self, batch) -> None:
        from usage.bodystore.store import request_bytes
        from usage.models import UsageLogBody

        bodies = UsageLogBody.objects.filter(log_id__in=[payload["id"] for payload, _ in batch])
        sent = {payload["id"]: body for payload, body in batch}
        for stored in bodies:
            self.checked += 1
            if request_bytes(self.org.id, stored) != (sent[str(stored.log_id)], 0):
                self.mismatched += 1

    def stored_bytes(self) -> int:
        from django.db.models import Sum
        from django.db.models.functions import Length

        from usage.models import BodyPiece, UsageLogBody

        bodies = UsageLogBody.objects.filter(log__organization=self.org).aggregate(
            body=Sum(Length("request_body")), manifest=Sum(Length("request_manifest"))
        )
        pieces = BodyPiece.objects.filter(organization=self.org).aggregate(data=Sum(Length("data")))
        count = BodyPiece.objects.filter(organization=self.org).count()
        return (bodies["body"] or 0) + (bodies["manifest"] or 0) + (pieces["data"] or 0) + count * 16

    def reset(self) -> None:
        from usage.models import BodyPiece, UsageLog

        UsageLog.objects.filter(organization=self.org).delete()
        BodyPiece.objects.filter(organization=self.org).delete()


def run(layouts, sessions) -> int:
    """Ship and write every session's calls through both layouts, batch by batch."""
    clock = time.time() - 86400
    count = 0
    for bodies in sessions:
        count += 1
        for body in bodies:
            clock += 1
            for layout in layouts:
                layout.ship(body, clock)
            if len(layouts[0].pending) >= BATCH:
                for layout in layouts:
                    layout.write()
    for layout in layouts:
        layout.write()
    return count


def table_sizes(connection) -> str:
    if connection.vendor != "postgresql":
        return ""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE usage_usagelogbody")
        cursor.execute("VACUUM ANALYZE usage_bodypiece")
        cursor.execute(
            "SELECT pg_total_relation_size('usage_usagelogbody'), pg_total_relation_size('usage_bodypiece')"
        )
        bodies, pieces = cursor.fetchone()
    return f"    on disk (both organizations): bodies table {bodies / 1e6:.1f} MB, pieces table {pieces / 1e6:.1f} MB"


def report(title: str, layouts, sessions: int, connection) -> None:
    old, new = layouts
    print(f"\n{title}")
    print(f"  {'':<8}{'bytes/session':>16}{'ship ms/call':>15}{'write calls/s':>15}{'rebuilt exact':>16}")
    for layout in layouts:
        print(
            f"  {layout.name:<8}{layout.stored_bytes() / sessions:>16,.0f}"
            f"{layout.ship_seconds / layout.calls * 1e3:>15.2f}{layout.calls / layout.write_seconds:>15,.0f}"
            f"{f'{layout.checked - layout.mismatched}/{layout.checked}':>16}"
        )
    print(f"  storage: {old.stored_bytes() / new.stored_bytes():.1f}x less; worker write rate "
          f"{(new.calls / new.write_seconds) / (old.calls / old.write_seconds) - 1:+.0%} ({connection.vendor})")
    sizes = table_sizes(connection)
    if sizes:
        print(sizes)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000, help="sessions in the corpus")
    parser.add_argument("--turns", type=int, default=100, help="turns of the long session")
    args = parser.parse_args()
    connection, name = setup()
    from tests.bodies_corpus import corpus, session_bodies

    failed = False
    layouts = [Layout("old", split=False), Layout("new", split=True)]
    run(layouts, [session_bodies(seed=1, turns=args.turns)])
    report(f"One {args.turns}-turn Claude Code session ({layouts[0].calls:.0f} calls)", layouts, 1, connection)
    failed |= any(layout.mismatched for layout in layouts)
    for layout in layouts:
        layout.reset()

    layouts = [Layout("old", split=False), Layout("new", split=True)]
    began = time.perf_counter()
    count = run(layouts, (bodies for _, bodies in corpus(args.sessions)))
    report(
        f"Corpus: {count} sessions, {layouts[0].calls:.0f} calls ({time.perf_counter() - began:.0f} s)",
        layouts, count, connection,
    )
    failed |= any(layout.mismatched for layout in layouts)
    connection.creation.destroy_test_db(name, verbosity=0)
    if failed:
        sys.exit("some request was not rebuilt byte-exact")


if __name__ == "__main__":
    main()
