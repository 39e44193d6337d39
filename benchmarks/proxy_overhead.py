"""Proxy overhead benchmark: what Codecosts adds to an Anthropic call (run: `make bench`).

It sets up everything itself: a throw-away SQLite database under a temp dir (or the
--database-url one), migrations, an organization and a proxy endpoint. Then it starts

  * a fast fake Anthropic upstream        benchmarks/fake_upstream.py   (pinned to CPU 0)
  * the product: ONE uvicorn worker        codecosts.asgi:application    (pinned to CPU 1)
    --loop uvloop --http httptools --no-access-log --lifespan on, rate limits off,
    LOG_LEVEL=WARNING; usage written by local mode's writer process (`manage.py
    usage_writer`, what `make run` starts beside the server), or with --redis by a Celery
    worker as in production (either pinned to CPU 0, paused during the run and drained
    after: the writes are not the proxy's cost); --in-process-writes: in the server
  * the aiohttp load client                benchmarks/load_client.py     (pinned to CPU 0)

  * the raw-ASGI floor                    benchmarks/raw_asgi_floor.py  (pinned to CPU 1)
    a bare ASGI app forwarding with one aiohttp session under the same uvicorn flags:
    what any Python proxy here costs at least (--no-floor leaves it out)

The client runs DIRECT (client -> upstream), FLOOR (client -> floor -> upstream) and
PROXIED (client -> proxy -> upstream) calls in the same run, in alternating rounds, after a warm-up, and this script prints the
table and PASS/MISS against the targets, after checking that every proxied call got its
usage log. Everything it started is stopped on exit, Ctrl-C or error.

--profile additionally samples the proxy with py-spy (`pip install py-spy`; not a project
dependency) under proxied-only load and prints where its CPU goes (profile_summary.py).

One module on purpose (about 600 lines): `make bench` runs it as one script; it
starts and supervises every process of the run and prints their figures side by side.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

PRIVATE_REDIS = "private"

TARGETS = {
    "added_p50_ms": (1.5, 1.0),
    "rps": (700, 1500),
    "added_ttfb_ms": (2.0, None),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Processes:
    """Children in their own sessions (Ctrl-C reaches only us); all stopped on exit."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    nice = 0

    def start(self, name: str, args: list[str], env: dict, cpus: str | None) -> subprocess.Popen:
        if self.nice:
            args = ["nice", "-n", str(self.nice), *args]
        if cpus is not None:
            args = ["taskset", "-c", cpus, *args]  # taskset execs: the pid is the program's
        log = open(self.logdir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.logdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, proc: subprocess.Popen, timeout: float = 20) -> None:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGCONT)  # in case it was paused
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            except ProcessLookupError:
                pass

    def stop_all(self) -> None:
        for _name, proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


def wait_http(url: str, proc: subprocess.Popen, what: str, procs: Processes, name: str, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{procs.log(name)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s:\n{procs.log(name)}")


def wait_tcp(port: int, proc: subprocess.Popen, what: str, procs: Processes, name: str, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{procs.log(name)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen within {timeout:.0f} s")


def ensure_postgres_database(url: str) -> None:
    """Create the database of a postgres:// URL when it does not exist yet."""
    import environ
    import psycopg

    db = environ.Env.db_url_config(url)
    if "postgresql" not in db["ENGINE"]:
        return
    params = dict(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                  password=db["PASSWORD"] or None, dbname="postgres", autocommit=True)
    with psycopg.connect(**params) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["NAME"],)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def setup_database(env: dict, budgets: int = 0) -> tuple[str, str, "callable"]:
    """Migrate, create an organization, a locked endpoint and a key for it (in
    env["BENCH_CODECOSTS_KEY"], where the load client finds it) and `budgets` hard-limited
    budgets covering every call (the organization's, the endpoint's, the key's person's;
    too large to block); (endpoint id, slug, count_logs)."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from django.db import connection

    from accounts.models import Organization
    from proxy.models import ProxyEndpoint
    from usage.models import UsageLog

    organization = Organization.objects.create(name="Benchmark")
    endpoint = ProxyEndpoint.objects.create(
        organization=organization, name="Benchmark", slug=f"bench-{uuid.uuid4().hex[:10]}"
    )
    try:
        from accounts.services import api_key_create

        _, env["BENCH_CODECOSTS_KEY"] = api_key_create(organization=organization, name="bench")
    except ImportError:  # a checkout from before keys locked endpoints
        pass
    if budgets:
        from decimal import Decimal

        from budgets.services import budget_create

        scopes = [{"scope": "organization"}, {"scope": "endpoint", "endpoint": endpoint},
                  {"scope": "person", "person": "bench"}]
        for n in range(budgets):
            budget_create(organization=organization, name=f"Bench {n}", amount_cents=Decimal(10**9),
                          period="month", hard_limit=True, **scopes[n % len(scopes)])

    def count_logs() -> int:
        n = UsageLog.objects.filter(endpoint_id=endpoint.id).count()
        connection.close()
        return n

    connection.close()
    return str(endpoint.id), endpoint.slug, count_logs


def wait_for_logs(count_logs, expected: int, limit: float = 1800.0) -> tuple[int, float]:
    """Poll until `expected` logs exist, or none arrive for 30 s, or `limit` s passed (the
    writes take milliseconds each, so a long run can leave minutes of backlog);
    (count, seconds waited)."""
    t0 = time.monotonic()
    last, last_change, last_print = -1, t0, t0
    while time.monotonic() - t0 < limit:
        n = count_logs()
        if n >= expected:
            return n, time.monotonic() - t0
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        elif now - last_change > 30:
            break
        if now - last_print > 30:
            print(f"  {n}/{expected} written after {now - t0:.0f} s", flush=True)
            last_print = now
        time.sleep(0.5)
    return count_logs(), time.monotonic() - t0


def wait_idle(pid: int, limit: float = 120.0) -> None:
    """Wait until a process uses < 3% of a CPU over 0.3 s (e.g. usage writes drained)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.3)
        if cpu_seconds(pid) - before < 0.01:
            return


def machine_busy_cores(window: float = 2.0) -> float:
    def busy() -> float:
        with open("/proc/stat", "rb") as f:
            cpu = [int(x) for x in f.readline().split()[1:9]]
        return (sum(cpu) - cpu[3] - cpu[4]) / os.sysconf("SC_CLK_TCK")

    before = busy()
    time.sleep(window)
    return (busy() - before) / window


def wait_quiet(limit: float, threshold: float = 0.15) -> None:
    """Wait (at most `limit` s) until the rest of the machine uses < `threshold` cores."""
    deadline = time.monotonic() + limit
    while True:
        load = machine_busy_cores()
        if load < threshold:
            return
        if time.monotonic() > deadline:
            print(f"machine still busy ({load:.2f} cores); starting anyway", flush=True)
            return
        print(f"waiting for a quiet machine ({load:.2f} cores busy) ...", flush=True)


def reference_loop_us(cpus: str | None) -> float:
    """Best-of-5 time of a fixed pure-Python loop on the proxy's CPU, in microseconds: the
    machine's speed at that moment (a VM's host can change it by tens of percent)."""
    code = "import timeit; print(min(timeit.repeat('sum(range(1000))', number=2000, repeat=5)) / 2000 * 1e6)"
    args = [sys.executable, "-c", code]
    if cpus is not None:
        args = ["taskset", "-c", cpus, *args]
    try:
        return float(subprocess.run(args, capture_output=True, text=True, timeout=60).stdout)
    except (ValueError, subprocess.SubprocessError):
        return float("nan")


def git_describe() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "codecosts", "proxy", "usage", "accounts"],
            cwd=ROOT, capture_output=True, text=True,
        ).stdout.strip()
        return rev + (" + uncommitted changes in the app" if dirty else "")
    except OSError:
        return "?"


# Reporting ---------------------------------------------------------------------------


def ms(x: float) -> str:
    return f"{x * 1000:.2f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(r: dict, extra: dict) -> tuple[str, list[tuple[bool, str]]]:
    lat, st = r["latency"], r["streams"]
    rn, rs = r["rps_nonstream"], r["rps_stream"]
    floor = "floor" in lat
    sides = ("direct", "floor", "proxied") if floor else ("direct", "proxied")
    server = {"floor": "floor", "proxied": "proxy"}
    d, p = lat["direct"], lat["proxied"]
    add50 = p["p50"] - d["p50"]
    sd, sp = st["direct"], st["proxied"]
    tadd50, tadd99 = sp["ttfb_p50"] - sd["ttfb_p50"], sp["ttfb_p99"] - sd["ttfb_p99"]

    def cpu_us(cpu: dict, side: str, n: int) -> float:
        return cpu.get(server[side], 0.0) / n * 1e6 if n else float("nan")

    def row(label, value, added=None, fmt=ms):
        """A row: each side's value, then (for latencies) what the floor and the proxy add."""
        cells = [fmt(value(side)) if value(side) is not None else "" for side in sides]
        if added:
            cells += [fmt(value(side) - value("direct")) for side in sides[1:]]
        else:
            cells += [""] * (len(sides) - 1)
        return (label, *cells)

    def servers(value):
        return lambda side: None if side == "direct" else value(side)

    events = 8
    rows = [
        ("", *sides, *(f"{side} added" for side in sides[1:])),
        row(f"latency p50, c=1, non-streaming, n={p['n']} (ms)", lambda s: lat[s]["p50"], True),
        row("latency p90 (ms)", lambda s: lat[s]["p90"], True),
        row("latency p99 (ms)", lambda s: lat[s]["p99"], True),
        row(f"stream TTFB p50, c=1, {r['params']['delay_ms']} ms/event, n={sp['n']} (ms)", lambda s: st[s]["ttfb_p50"], True),
        row("stream TTFB p99 (ms)", lambda s: st[s]["ttfb_p99"], True),
        row("stream event delivery p50, upstream write -> client read (ms)", lambda s: st[s]["lag_p50"], True),
        row("stream event delivery p99 (ms)", lambda s: st[s]["lag_p99"], True),
        row("streams incremental (client read event k before event k+1 was written)",
            lambda s: f"{st[s]['incremental']}/{st[s]['n']}", fmt=str),
        row("  smallest margin: event k read before k+1 written (ms)", lambda s: st[s]["min_margin"]),
        row(f"throughput, c={r['params']['concurrency']}, non-streaming (req/s)", lambda s: rn[s]["rps"], fmt=lambda x: f"{x:.0f}"),
        row(f"throughput, c={r['params']['concurrency']}, streaming (req/s)", lambda s: rs[s]["rps"], fmt=lambda x: f"{x:.0f}"),
        row("server CPU per request, c=1 non-streaming (us)",
            servers(lambda s: cpu_us(r["latency_cpu"][s], s, lat[s]["n"])), fmt=lambda x: f"{x:.0f}"),
        row("server CPU per request, c=32 non-streaming (us)",
            servers(lambda s: cpu_us(rn[s]["cpu"], s, rn[s]["completed"])), fmt=lambda x: f"{x:.0f}"),
        row("server CPU per request, c=32 streaming (us)",
            servers(lambda s: cpu_us(rs[s]["cpu"], s, rs[s]["completed"])), fmt=lambda x: f"{x:.0f}"),
        row(f"server CPU per streamed event, c=1, {r['params']['delay_ms']} ms/event (us)",
            servers(lambda s: cpu_us(r["streams_cpu"][s], s, st[s]["n"] * events)), fmt=lambda x: f"{x:.0f}"),
        ("  of which the proxy's event loop thread (the rest: its usage shipper, ...) (us)", *[""] * (len(sides) - 1),
         f"{r['streams_cpu']['proxied'].get('proxy_loop', 0) / max(1, st['proxied']['n'] * events) * 1e6:.0f}",
         *[""] * (len(sides) - 1)),
        ("proxy CPU per request, all-in"
         + ("" if extra.get("worker_us") is not None or extra.get("variant") == "no-usage" else " incl. usage writes")
         + " (us)",
         *[""] * (len(sides) - 1), f"{extra['allin_us']:.0f}", *[""] * (len(sides) - 1)),
    ]
    blank = [""] * (len(sides) - 1)
    if extra.get("worker_us") is not None:
        rows.append(("worker CPU per request (usage writes) (us)", *blank, f"{extra['worker_us']:.0f}", *blank))
    rows += [
        ("proxy peak RSS, VmHWM (MiB)", *blank, f"{extra['rss_mib']:.1f}", *blank),
        ("usage logs written / expected", *blank, f"{extra['written']}/{extra['expected']}", *blank),
        ("  all written this long after the load ended (s)", *blank, f"{extra['drain_wait_s']:.1f}", *blank),
        ("fake upstream CPU per request, c=32 non-streaming (us)",
         f"{rn['direct']['cpu'].get('upstream', 0) / max(1, rn['direct']['completed']) * 1e6:.0f}", *blank, *blank),
        row("load client CPU per request, c=32 non-streaming (us)",
            lambda s: rn[s]["cpu"].get("client", 0) / max(1, rn[s]["completed"]) * 1e6, fmt=lambda x: f"{x:.0f}"),
    ]
    width = max(len(x[0]) for x in rows)
    lines = [f"{x[0]:<{width}}" + "".join(f"  {cell:>13}" for cell in x[1:]) for x in rows]
    table = "\n".join(lines)

    rps_min, rps_aim = TARGETS["rps"]
    p50_max, p50_aim = TARGETS["added_p50_ms"]
    checks = [
        (add50 * 1000 <= p50_max,
         f"added latency p50 {add50 * 1000:.2f} ms <= {p50_max} ms (aim <= {p50_aim} ms: {'met' if add50 * 1000 <= p50_aim else 'not met'})"),
        (rn["proxied"]["rps"] >= rps_min,
         f"non-streaming throughput {rn['proxied']['rps']:.0f} req/s >= {rps_min} (aim >= {rps_aim}: {'met' if rn['proxied']['rps'] >= rps_aim else 'not met'})"),
        (rs["proxied"]["rps"] >= rps_min,
         f"streaming throughput {rs['proxied']['rps']:.0f} req/s >= {rps_min} (aim >= {rps_aim}: {'met' if rs['proxied']['rps'] >= rps_aim else 'not met'})"),
        (tadd50 * 1000 <= TARGETS["added_ttfb_ms"][0],
         f"added TTFB p50 {tadd50 * 1000:.2f} ms <= {TARGETS['added_ttfb_ms'][0]} ms (p99: {tadd99 * 1000:.2f} ms)"),
        (sp["n"] > 0 and sp["incremental"] == sp["n"],
         f"streams incremental {sp['incremental']}/{sp['n']} = {100 * sp['incremental'] / max(1, sp['n']):.0f}% (100% required)"),
        (extra["written"] == extra["expected"],
         f"usage logs written {extra['written']}/{extra['expected']}"),
    ]
    if extra.get("variant") == "no-usage":
        checks[-1] = (True, "usage logs: not checked (variant no-usage drops every record)")
    if floor:
        checks += floor_checks(r)
    return table, checks


def floor_checks(r: dict) -> list[tuple[bool, str]]:
    """The targets set against the raw-ASGI floor measured in the same run."""
    lat, st, rn = r["latency"], r["streams"], r["rps_nonstream"]

    def added(table, side, key):
        return (table[side][key] - table["direct"][key]) * 1000

    def per_event(side):
        server = "floor" if side == "floor" else "proxy"
        return r["streams_cpu"][side].get(server, 0.0) / max(1, st[side]["n"] * 8) * 1e6

    checks = []
    for label, table, key, margin in (
        ("added p50, c=1", lat, "p50", 0.3), ("added p99, c=1", lat, "p99", 1.0), ("added TTFB p50", st, "ttfb_p50", 0.3),
    ):
        floor, ours = added(table, "floor", key), added(table, "proxied", key)
        checks.append((ours <= floor + margin, f"{label} {ours:.2f} ms <= floor {floor:.2f} ms + {margin} ms"))
    share = rn["proxied"]["rps"] / max(1e-9, rn["floor"]["rps"])
    checks.append((share >= 0.3, f"req/s at c={r['params']['concurrency']} {rn['proxied']['rps']:.0f} = {share:.0%} of the floor's {rn['floor']['rps']:.0f} (>= 30%)"))
    ratio = per_event("proxied") / max(1e-9, per_event("floor"))
    checks.append((ratio <= 1.5, f"CPU per streamed event {per_event('proxied'):.0f} us = {ratio:.2f}x the floor's {per_event('floor'):.0f} us (<= 1.5x)"))
    return checks


# Main --------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis", nargs="?", const=PRIVATE_REDIS, default=None, metavar="URL",
                    help="usage through REDIS_URL and a Celery worker; without URL, a private "
                    "redis-server on a free loopback port (a shared Redis may have other workers "
                    "on the same `usage` queue, e.g. test runs, which would take our records)")
    ap.add_argument("--database-url", help="use this database (e.g. postgres://postgres@127.0.0.1:5432/codecosts_bench) instead of a temp SQLite file")
    ap.add_argument("--requests", type=int, default=2000, help="non-streaming calls per side at c=1")
    ap.add_argument("--streams", type=int, default=100, help="delayed streams per side at c=1")
    ap.add_argument("--delay-ms", type=int, default=20, help="upstream delay between SSE events in the stream check")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--budgets", type=int, default=0, metavar="N",
                    help="N hard-limited budgets covering every call (organization, endpoint, person)")
    ap.add_argument("--seconds", type=float, default=10.0, help="throughput seconds per side (each mode)")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=10,
                    help="throughput: alternating rounds per side (seconds/rounds each; the VM's speed drifts)")
    ap.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    ap.add_argument("--worker-live", action="store_true",
                    help="let the worker (or the writer) write during the run (default: paused until the run ends)")
    ap.add_argument("--in-process-writes", action="store_true",
                    help="without --redis: usage written inside the server process, not by a writer process")
    ap.add_argument("--variant", choices=("no-usage", "yield", "no-journal", "no-shipping", "no-meter"),
                    help="diagnostic: run a modified proxy (see variant_server.py)")
    ap.add_argument("--max-noise", type=float, default=0.25, metavar="CORES",
                    help="re-run a direct/proxied round pair during which other processes used more "
                    "than this many cores, while the phase has time left (default 0.25)")
    ap.add_argument("--phase-limit", type=float, default=180.0, metavar="SECONDS",
                    help="time limit of each phase, re-runs included (default 180)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run every process of the benchmark at this nice level (e.g. -10, as root: "
                    "other processes on a shared machine then disturb the measurement less)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="first wait up to this long for other processes to use < 0.15 cores")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--no-floor", action="store_true",
                    help="do not run the raw-ASGI floor (raw_asgi_floor.py) as a third side")
    ap.add_argument("--profile", action="store_true", help="then profile the proxy with py-spy")
    ap.add_argument("--profile-seconds", type=float, default=15.0)
    ap.add_argument("--profile-scenarios", type=lambda s: s.split(","), metavar="MODE,...",
                    help="profile only these: nonstream, stream, stream-delayed (c=1, --delay-ms between events)")
    ap.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--strict", action="store_true", help="exit with status 2 when a target is missed")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database, profiles)")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.streams, args.seconds, args.warmup, args.rounds = 300, 20, 2.0, 100, 4
        args.profile_seconds = min(args.profile_seconds, 5.0)

    ncpu = os.cpu_count() or 1
    pin = not args.no_pin and ncpu >= 2 and shutil.which("taskset") is not None
    cpu_front, cpu_proxy = ("0", "1") if pin else (None, None)

    tmp = Path(tempfile.mkdtemp(prefix="codecosts-bench-"))
    procs = Processes(tmp)
    procs.nice = args.nice

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # Also when started with SIGINT ignored (e.g. `cmd &` in a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    status = 1
    try:
        upstream_port, proxy_port = free_port(), free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        if args.redis == PRIVATE_REDIS:
            if not shutil.which("redis-server"):
                raise RuntimeError("--redis without a URL needs redis-server on PATH")
            redis_port = free_port()
            redis = procs.start(
                "redis",
                ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                 "--appendonly", "no", "--dir", str(tmp)],
                dict(os.environ), cpu_front,
            )
            args.redis = f"redis://127.0.0.1:{redis_port}/0"
            wait_tcp(redis_port, redis, "redis-server", procs, "redis")
        database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        if database_url.startswith("postgres"):
            ensure_postgres_database(database_url)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "codecosts.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key",
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis or "",
            "VAR_DIR": str(tmp / "var"),
            "USAGE_SPOOL_DIR": str(tmp / "spool"),
            "ANTHROPIC_UPSTREAM_URL": upstream_url,
            "OPENAI_UPSTREAM_URL": upstream_url,
            "RATE_LIMIT_MESSAGES_PER_MINUTE": "0",
            "RATE_LIMIT_COUNT_TOKENS_PER_MINUTE": "0",
            "LOG_LEVEL": "WARNING",
            "LOCAL_ONLY": "0",
            "LOCAL_MODE": "0",
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
        }
        print(f"setting up {database_url.split('@')[-1]} ...", flush=True)
        endpoint_id, slug, count_logs = setup_database(env, args.budgets)

        py = sys.executable
        upstream = procs.start("upstream", [py, str(BENCH / "fake_upstream.py"), "--port", str(upstream_port)], env, cpu_front)
        worker = None
        if not args.redis and not args.in_process_writes:
            env["USAGE_WRITER"] = "1"
            worker = procs.start("worker", [py, str(ROOT / "manage.py"), "usage_writer"], env, cpu_front)
        if args.redis:
            worker = procs.start(
                "worker",
                [py, "-m", "celery", "-A", "codecosts", "worker", "-Q", "usage,default", "-P", "solo",
                 "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
                env, cpu_front,
            )
        server = [py, str(BENCH / "variant_server.py"), args.variant] if args.variant else [py, "-m", "uvicorn"]
        proxy = procs.start(
            "proxy",
            [*server, "codecosts.asgi:application", "--host", "127.0.0.1", "--port", str(proxy_port),
             "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--lifespan", "on"],
            env, cpu_proxy,
        )
        floor = None
        if not args.no_floor:
            floor_port = free_port()
            floor = procs.start(
                "floor",
                [py, "-m", "uvicorn", "raw_asgi_floor:app", "--app-dir", str(BENCH), "--host", "127.0.0.1",
                 "--port", str(floor_port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                 "--lifespan", "on"],
                {**env, "FLOOR_UPSTREAM": upstream_url}, cpu_proxy,
            )
        wait_http(f"{upstream_url}/health", upstream, "fake upstream", procs, "upstream")
        if floor is not None:
            wait_tcp(floor_port, floor, "raw-ASGI floor", procs, "floor")
        proxied_base = f"http://127.0.0.1:{proxy_port}/proxy/{slug}"
        wait_http(f"{proxied_base}/", proxy, "proxy", procs, "proxy")

        client_args = [
            py, str(BENCH / "load_client.py"), "--direct", upstream_url, "--proxied", proxied_base,
            "--proxy-pid", str(proxy.pid), "--upstream-pid", str(upstream.pid),
            "--worker-pid", str(worker.pid if worker else 0),
            "--requests", str(args.requests), "--streams", str(args.streams), "--delay-ms", str(args.delay_ms),
            "--concurrency", str(args.concurrency), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
            "--max-noise", str(args.max_noise), "--phase-limit", str(args.phase_limit), "--rounds", str(args.rounds),
        ]
        if floor is not None:
            client_args += ["--floor", f"http://127.0.0.1:{floor_port}/proxy/floor", "--floor-pid", str(floor.pid)]
        out = tmp / "results.json"
        proxy_cpu0 = cpu_seconds(proxy.pid)
        worker_cpu0 = cpu_seconds(worker.pid) if worker else 0.0
        if args.wait_quiet:
            wait_quiet(args.wait_quiet)
        ref_before = reference_loop_us(cpu_proxy)
        print("running the load client (direct and proxied, alternating) ...", flush=True)
        client = procs.start("client", [*client_args, "--out", str(out)], env, cpu_front)
        # The client's own phase limits bound it; this is a backstop.
        if worker and not args.worker_live:
            # The writes would compete for CPU 0 with the client and the upstream (and are
            # not the proxy's cost): records wait in Redis, or the outbox, until the end.
            worker.send_signal(signal.SIGSTOP)
        client.wait(timeout=1800)
        if worker and not args.worker_live:
            worker_cpu0 = cpu_seconds(worker.pid)
            worker.send_signal(signal.SIGCONT)
        if client.returncode != 0 or not out.exists():
            raise RuntimeError(f"load client failed:\n{procs.log('client')}")
        results = json.loads(out.read_text())

        expected = results["proxied_sent"]
        if args.variant == "no-usage":
            written, waited = count_logs(), 0.0
            wait_idle(proxy.pid)
        else:
            print(f"waiting for {expected} usage logs ...", flush=True)
            written, waited = wait_for_logs(count_logs, expected)
        proxy_cpu = cpu_seconds(proxy.pid) - proxy_cpu0
        ref_after = reference_loop_us(cpu_proxy)  # after the drain: CPU 1 is idle again
        extra = {
            "expected": expected,
            "written": written,
            "drain_wait_s": waited,
            "allin_us": proxy_cpu / max(1, expected) * 1e6,
            "worker_us": (cpu_seconds(worker.pid) - worker_cpu0) / max(1, expected) * 1e6 if worker else None,
            "rss_mib": (proc_status_kb(proxy.pid, "VmHWM") or 0) / 1024,
            "variant": args.variant,
            "reference_loop_us": [ref_before, ref_after],
        }
        table, checks = report(results, extra)

        paused = "writing during the run" if args.worker_live else "paused during the run, drained after"
        mode = (
            f"Celery worker via Redis ({paused})" if args.redis
            else "in-process usage writes" if args.in_process_writes
            else f"usage writer process ({paused})"
        )
        db = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
        header = [
            f"Codecosts proxy overhead: 1 uvicorn worker (uvloop, httptools), {db}, {mode}"
            + (f"\nDIAGNOSTIC VARIANT {args.variant} (benchmarks/variant_server.py): not the product as shipped" if args.variant else ""),
            f"commit {git_describe()}; Python {platform.python_version()}; {ncpu} CPUs; "
            + (f"nice {args.nice}; " if args.nice else "")
            + ("proxy pinned to CPU 1, client + upstream" + (" + worker + redis" if args.redis else " + usage writer" if worker else "") + " to CPU 0"
               if pin else "no CPU pinning"),
            f"other processes on the machine used {results['others_cores']:.2f} cores on average "
            "during the measured rounds" + ("  (NOISY: numbers may be off)" if results["others_cores"] > 0.15 else ""),
            f"machine speed: reference Python loop {ref_before:.1f} us before the run, {ref_after:.1f} us after "
            "(lower is faster; it drifts by tens of percent on this VM, and so do CPU costs)",
            "round pairs re-run because other processes used > "
            f"{args.max_noise} cores: " + ", ".join(f"{k} {v}" for k, v in results.get("discarded", {}).items()),
        ]
        errors = {k: v for k, v in results["errors"].items() if v}
        print()
        print("\n".join(header))
        print()
        print(table)
        if errors:
            print(f"\nerrors: {errors}")
        print("\ntargets:")
        for ok, text in checks:
            print(f"  {verdict(ok)}  {text}")

        if args.profile:
            from profile_summary import profile_proxy

            profile_proxy(
                procs=procs, proxy=proxy, client_args=client_args, env=env, cpu_front=cpu_front, tmp=tmp,
                seconds=args.profile_seconds, rate=args.profile_rate, concurrency=args.concurrency,
                quiesce=lambda: wait_idle(proxy.pid), scenarios=args.profile_scenarios,
            )

        if args.json:
            Path(args.json).write_text(json.dumps({"results": results, "extra": extra, "checks": checks}, indent=2))
        status = 2 if args.strict and not all(ok for ok, _ in checks) else 0
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        status = 130
    except Exception as exc:  # noqa: BLE001
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        procs.stop_all()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
