"""What writing one usage log costs: the shipper's work per record, outside the server.

Runs the same code the usage-shipper thread runs in-process (record_to_payload, then
usage.pipeline.deliver with CELERY_TASK_ALWAYS_EAGER) on realistic records of a
non-streaming and a streaming Anthropic call, against a throw-away SQLite database (or
--database-url), and prints the time and SQL queries per record and a cProfile summary.

    SECRET_KEY=x .venv/bin/python benchmarks/usage_write_profile.py [--records 2000]
"""

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--database-url")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="codecosts-usage-write-"))
    try:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "codecosts.settings",
                "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key",
                "DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
                "REDIS_URL": "",
                "VAR_DIR": str(tmp / "var"),
                "USAGE_SPOOL_DIR": str(tmp / "spool"),
                "LOG_LEVEL": "WARNING",
            }
        )
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        call_command("migrate", interactive=False, verbosity=0)
        from fake_upstream import EVENTS, MESSAGE
        from load_client import HEADERS, request_body

        from accounts.models import Organization
        from providers.anthropic.meter import AnthropicMeter
        from proxy.models import ProxyEndpoint
        from usage import pipeline
        from usage.records import BATCH_SIZE, UsageRecord, record_to_payload

        org = Organization.objects.create(name="usage write bench")
        ep = ProxyEndpoint.objects.create(organization=org, name="b", slug=f"uw-{uuid.uuid4().hex[:8]}")

        def record(stream: bool) -> UsageRecord:
            meter = AnthropicMeter()
            if stream:
                body = b"".join(EVENTS)
                meter.feed(body)
                meter.close()
            else:
                body = MESSAGE
                meter.feed_body(body)
            req = request_body(stream)
            return UsageRecord(
                id=str(uuid.uuid4()), organization_id=str(org.id), endpoint_id=str(ep.id),
                endpoint_slug=ep.slug, provider="anthropic", path="/v1/messages", started_at=time.time(),
                duration_ms=3, ttfb_ms=1, status_code=200, outcome="ok", streamed=stream,
                request_model="claude-sonnet-4-5-20250929", usage=meter.usage,
                upstream_request_id="req_011CTzVqYb3GmN1d9FJyqkRt", user_agent=HEADERS["user-agent"],
                key_hint="0000", claude_code_session_id="0f0e2c4e-8a0e-4a53-9f3b-6c7b3a9d5e11",
                response_content_type="application/json", request_body=req, request_size=len(req),
                response_body=body, response_size=len(body),
            )

        # Warm up (first session row, prepared caches).
        pipeline.deliver([record_to_payload(record(False)) for _ in range(20)])

        for stream in (False, True):
            records = [record(stream) for _ in range(args.records)]
            with CaptureQueriesContext(connection) as queries:
                pipeline.deliver([record_to_payload(record(stream))])
            print(f"\n=== {'streaming' if stream else 'non-streaming'} records: "
                  f"{len(queries.captured_queries)} SQL statements per record ===")
            for q in queries.captured_queries:
                print(f"  {q['sql'][:150]}")

            profiler = cProfile.Profile()
            t0, c0 = time.perf_counter(), time.process_time()
            profiler.enable()
            payloads = []
            for start in range(0, len(records), BATCH_SIZE):
                batch = [record_to_payload(r) for r in records[start : start + BATCH_SIZE]]
                payloads.append(len(batch))
                pipeline.deliver(batch)
            profiler.disable()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"  {args.records} records in batches of {BATCH_SIZE}: "
                  f"{wall / args.records * 1e6:.0f} us wall, {cpu / args.records * 1e6:.0f} us CPU per record "
                  "(under cProfile, which inflates Python-heavy code)")
            # Without the profiler, the honest number.
            records = [record(stream) for _ in range(args.records)]
            t0, c0 = time.perf_counter(), time.process_time()
            for start in range(0, len(records), BATCH_SIZE):
                pipeline.deliver([record_to_payload(r) for r in records[start : start + BATCH_SIZE]])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"  without cProfile: {wall / args.records * 1e6:.0f} us wall, "
                  f"{cpu / args.records * 1e6:.0f} us CPU per record")
            t0 = time.process_time()
            for r in records:
                record_to_payload(r)
            print(f"  of which record_to_payload (zlib + base64): "
                  f"{(time.process_time() - t0) / args.records * 1e6:.0f} us CPU per record")
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative")
            print(f"  cProfile, top {args.top} by cumulative time (per record = cumtime / {args.records}):")
            width = 0
            rows = []
            for func, (cc, nc, tt, ct, callers) in stats.stats.items():
                filename, line, name = func
                short = filename.split("site-packages/")[-1].split(str(ROOT) + "/")[-1]
                rows.append((ct, tt, nc, f"{short}:{line}({name})"))
            rows.sort(reverse=True)
            for ct, tt, nc, name in rows[: args.top]:
                print(f"    {ct / args.records * 1e6:8.0f} us cum {tt / args.records * 1e6:7.0f} us self "
                      f"{nc / args.records:6.1f} calls  {name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
