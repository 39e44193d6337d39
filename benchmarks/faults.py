"""The fault suite at full size: every scenario of issue 11, each counted call by call.

    .venv/bin/python benchmarks/faults.py [--short] [--only NAME ...]

Starts a private PostgreSQL and Redis on free ports, the fake provider, the web process
(uvicorn) and a Celery worker (tests/fault_stack.py), then runs each scenario of
tests/faults.py: traffic with a nonce per call while a part fails (Redis down 60 s, a
worker killed, PostgreSQL restarted and down 30 s, the web process stopped with SIGTERM
and SIGKILL with streams in flight, 500 client hang-ups, upstream cuts, hangs, 500s and
529s, 150 calls with 4 MB images). Prints sent / answered / provider / logged / lost /
duplicated per scenario; exits 1 if any call was lost or logged twice. About 12 minutes.
`--short` runs the form `make test` runs (tests/reliability/test_faults.py).
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the short form make test runs")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="scenarios whose name contains NAME")
    args = parser.parse_args()

    from tests.fault_stack import FaultStack, missing_programs
    from tests.faults import Result, run, scenarios

    if missing := missing_programs():
        sys.exit(f"faults.py needs {', '.join(missing)}")
    chosen = [
        scenario
        for scenario in scenarios(full=not args.short)
        if not args.only or any(name.lower() in scenario.name.lower() for name in args.only)
    ]
    directory = Path(tempfile.mkdtemp(prefix="codecosts-faults-"))
    print(f"processes' logs in {directory}", flush=True)
    stack = FaultStack(directory).start()
    results = []
    try:
        print(Result.HEADER, flush=True)
        for scenario in chosen:
            result = run(stack, scenario)
            results.append(result)
            outcomes = ", ".join(f"{name} {count}" for name, count in sorted(result.outcomes.items()))
            died = f"; died by itself: {', '.join(result.died)}" if result.died else ""
            print(f"{result.line()}   ({outcomes}{died})", flush=True)
    finally:
        stack.stop()
    failed = [r.scenario for r in results if r.lost or r.duplicated or r.spooled_bytes or r.dead_letters or r.died]
    print(f"{len(results)} scenarios: " + (f"FAILED {', '.join(failed)}" if failed else "0 lost, 0 duplicated in every one"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
