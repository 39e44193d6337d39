"""Diagnostic variants of the product, for `proxy_overhead.py --variant NAME` only.

They run the same uvicorn command as the product, after one change made in this process
(never in the code base), to measure what a part of the hot path costs:

  no-usage      usage.pipeline.record() drops the record: no shipper thread work at all
                (what the request path alone costs; usage logs are then NOT written)
  yield         the shipper thread sleeps VARIANT_YIELD_SECONDS (default 0.0001) before
                each record it turns into a payload, which hands a waiting event loop the GIL
  no-journal    the journal's writes are skipped (what its os.write calls cost the loop)
  no-shipping   records are journalled and kept in a list, never queued: the shipper
                thread never wakes (what it costs the event loop; logs are NOT written)
  no-meter      the usage meter reads no streamed chunk (what reading SSE for usage costs
                a streamed event; the logs are written without the streams' usage)

Usage: variant_server.py NAME <uvicorn arguments...>
"""

import os
import sys

VARIANTS = ("no-usage", "yield", "no-journal", "no-shipping", "no-meter")


def main() -> None:
    name, args = sys.argv[1], sys.argv[2:]
    if name not in VARIANTS:
        sys.exit(f"unknown variant {name!r}; one of {', '.join(VARIANTS)}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    if name == "no-usage":
        from usage import pipeline

        pipeline.record = lambda usage_record: None
    elif name == "yield":
        import time

        from usage import pipeline

        redact = pipeline.redact_record
        pause = float(os.environ.get("VARIANT_YIELD_SECONDS", "0.0001"))

        def redact_record(usage_record):
            time.sleep(pause)
            return redact(usage_record)

        pipeline.redact_record = redact_record
    elif name == "no-shipping":
        import queue
        import time

        from usage import pipeline

        class Kept(list):
            put = list.append

            def get(self, timeout=None):
                time.sleep(timeout)
                raise queue.Empty

            def get_nowait(self):
                raise queue.Empty

            def qsize(self):
                return 0

        pipeline._queue = Kept()
    elif name == "no-meter":
        from providers.base import UsageMeter

        UsageMeter.feed = lambda self, chunk: None
    elif name == "no-journal":
        from usage.journal import Journal

        Journal.started = Journal.seen = Journal.finished = lambda self, *args: None

    import uvicorn.main

    sys.argv = ["uvicorn", *args]
    uvicorn.main.main()


if __name__ == "__main__":
    main()
