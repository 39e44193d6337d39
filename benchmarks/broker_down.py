"""How long one usage publish takes with the broker up, and with it gone (run directly):

    .venv/bin/python benchmarks/broker_down.py [--tries N]

Starts a private Redis on a free port, publishes a one-record batch through
`usage.pipeline.deliver` as the shipper does, kills Redis, and times the failing
publishes that follow (the shipper spools the batch after each). Issue 11 measured 6 s
a failed publish before the broker transport options in codecosts/settings.py.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed")
    port = free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    os.environ.update(
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-secret-key"),
        VAR_DIR=tempfile.mkdtemp(prefix="codecosts-broker-down-"),
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        DJANGO_SETTINGS_MODULE="codecosts.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from tests.factories import usage_record
    from usage import pipeline
    from usage.records import record_to_payload

    batch = [record_to_payload(usage_record())]
    deadline = time.monotonic() + 10
    while True:
        try:
            pipeline.deliver(batch)  # the first publish also connects
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    up = []
    for _ in range(args.tries):
        started = time.perf_counter()
        pipeline.deliver(batch)
        up.append((time.perf_counter() - started) * 1000)
    redis_server.kill()
    redis_server.wait()
    down = []
    for _ in range(args.tries):
        started = time.perf_counter()
        try:
            pipeline.deliver(batch)
        except Exception as error:  # noqa: BLE001 - what the shipper sees
            assert pipeline.unreachable(error), error
        else:
            sys.exit("a publish succeeded with the broker gone")
        down.append((time.perf_counter() - started) * 1000)
    print(f"one-record publish, {args.tries} tries each (ms)      median      max")
    print(f"  broker up                              {statistics.median(up):8.1f} {max(up):8.1f}")
    print(f"  broker gone (refused connections)      {statistics.median(down):8.1f} {max(down):8.1f}")


if __name__ == "__main__":
    main()
