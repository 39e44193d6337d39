"""The load client of the proxy benchmark (its own process, so it shares no GIL with
anything measured). Started by proxy_overhead.py; prints one JSON document of results.

Every phase runs DIRECT (client -> fake upstream) and PROXIED (client -> proxy -> fake
upstream) in alternating rounds, so drift of the machine (other load, frequency, caches)
hits both sides alike. Before each phase it waits until the proxy (and worker) are idle,
so one phase's backlog of usage writes does not spill into the next one's numbers.

One module on purpose (about 490 lines): it runs as its own process from a bare
interpreter (no Django, no project import), so everything it needs is here.
"""

import argparse
import asyncio
import functools
import json
import math
import os
import sys
import time

import aiohttp

CLK_TCK = os.sysconf("SC_CLK_TCK")

PROMPT = (
    "You are reviewing a pull request. Summarise in two sentences what prompt caching "
    "does for a long system prompt, and whether the cache-read price applies to the "
    "tokens written on the first call. Answer plainly, without lists or headings. "
) * 3


def request_body(stream: bool) -> bytes:
    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are a concise assistant."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
        "metadata": {"user_id": "user_4b1e_account__session_0f0e2c4e-8a0e-4a53-9f3b-6c7b3a9d5e11"},
        "temperature": 1,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


HEADERS = {
    "content-type": "application/json",
    "accept": "application/json",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "prompt-caching-2024-07-31",
    "x-api-key": "sk-ant-bench-0000000000000000000000000000000000000000",
    "user-agent": "Anthropic/Python 0.69.0",
    "x-stainless-lang": "python",
    "x-stainless-package-version": "0.69.0",
    "x-stainless-retry-count": "0",
    # Who and what calls, as a Claude Code user sets them up (issue 13): read by the proxy,
    # never forwarded (the x-codecosts-* ones).
    "x-claude-code-session-id": "0ce9b2d6-e137-4494-906d-2700ccbd068b",
    "x-codecosts-user": "alice",
    "x-codecosts-tags": "bench,backend",
    "x-codecosts-property-repo": "codecosts",
}
# The benchmark's endpoint is locked, as hosted endpoints are: every call carries a key
# (sent to the direct calls too, so both sides carry the same headers).
if os.environ.get("BENCH_CODECOSTS_KEY"):
    HEADERS["x-codecosts-key"] = os.environ["BENCH_CODECOSTS_KEY"]


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of a whole process (all threads), or of one ("pid/task/tid"), in seconds."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy_seconds() -> float:
    """CPU time of every process on the machine (all cores) minus that of kernel threads,
    in seconds. Interrupts, softirqs (loopback networking) and steal are left out: they
    are not other processes' doing, and kernel threads (writeback of our own SQLite
    writes, ...) can't be told apart."""
    with open("/proc/stat", "rb") as f:
        cpu = f.readline().split()[1:]
    user, nice, system = (int(x) for x in cpu[:3])
    return (user + nice + system) / CLK_TCK - kernel_threads_seconds()


def kernel_threads_seconds() -> float:
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[6]) & 0x00200000:  # PF_KTHREAD
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Meter:
    """CPU of the processes of interest, and of the whole machine, over a window."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.totals = {name: 0.0 for name in pids}
        self.system = 0.0
        self.wall = 0.0

    def snapshot(self):
        seconds = {n: cpu_seconds(p) for n, p in self.pids.items()}
        # The proxy's main thread (its event loop) apart from the rest: the process less
        # this is its other threads (the usage shipper, the budget gate, executors).
        seconds["proxy_loop"] = cpu_seconds(f"{self.pids['proxy']}/task/{self.pids['proxy']}")
        return time.perf_counter(), system_busy_seconds(), seconds

    def add(self, before, after) -> dict[str, float]:
        self.wall += after[0] - before[0]
        self.system += after[1] - before[1]
        delta = {n: after[2][n] - before[2][n] for n in self.pids}
        for name, value in delta.items():
            self.totals[name] += value
        return delta

    def others(self, before, after) -> float:
        """Cores used by other processes between two snapshots."""
        wall = after[0] - before[0]
        ours = sum(after[2][n] - before[2][n] for n in self.pids)
        return max(0.0, (after[1] - before[1]) - ours) / wall if wall > 0 else 0.0

    def others_cores(self) -> float:
        """Average cores used by processes other than ours during the windows."""
        if not self.wall:
            return 0.0
        ours = sum(self.totals.values())
        return max(0.0, self.system - ours) / self.wall


class Client:
    def __init__(self, args):
        self.args = args
        self.direct_base = args.direct.rstrip("/")
        self.direct_url = self.direct_base + "/v1/messages"
        self.stream_ids = 0
        self.proxied_url = args.proxied.rstrip("/") + "/v1/messages"
        # The raw-ASGI floor (raw_asgi_floor.py), when given: a third side, between the two.
        self.floor_url = args.floor.rstrip("/") + "/v1/messages" if args.floor else None
        self.sides = ("direct", "floor", "proxied") if args.floor else ("direct", "proxied")
        self.bodies = {False: request_body(False), True: request_body(True)}
        self.proxied_sent = 0
        self.errors = {side: {} for side in self.sides}
        pids = {"client": os.getpid(), "upstream": args.upstream_pid, "proxy": args.proxy_pid}
        if args.floor_pid:
            pids["floor"] = args.floor_pid
        if args.worker_pid:
            pids["worker"] = args.worker_pid
        self.meter = Meter(pids)
        self.discarded = {}

    async def __aenter__(self):
        timeout = aiohttp.ClientTimeout(total=30)

        def session():
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, limit_per_host=256),
                timeout=timeout,
                auto_decompress=False,
            )

        self.sessions = {side: session() for side in self.sides}
        return self

    async def __aexit__(self, *exc):
        for s in self.sessions.values():
            await s.close()

    def _error(self, side: str, what: str) -> None:
        self.errors[side][what] = self.errors[side].get(what, 0) + 1

    def _url(self, side: str) -> str:
        if side == "proxied":
            self.proxied_sent += 1
            return self.proxied_url
        return self.floor_url if side == "floor" else self.direct_url

    async def nonstream(self, side: str) -> float | None:
        """Latency of one non-streaming call (request sent -> whole body read)."""
        session = self.sessions[side]
        url = self._url(side)
        t0 = time.perf_counter()
        try:
            async with session.post(url, data=self.bodies[False], headers=HEADERS) as resp:
                body = await resp.read()
                if resp.status != 200 or not body.endswith(b"}"):
                    self._error(side, f"status {resp.status}")
                    return None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self._error(side, type(exc).__name__)
            return None
        return time.perf_counter() - t0

    async def stream(self, side: str, delay_ms: int = 0):
        """One stream: (ttfb, [arrival of each event, time.monotonic()], total, [emission
        of each event by the upstream, time.monotonic()] or None)."""
        session = self.sessions[side]
        url = self._url(side)
        headers = HEADERS
        stream_id = None
        if delay_ms:
            self.stream_ids += 1
            stream_id = f"{side}-{self.stream_ids}"
            headers = {**HEADERS, "x-bench-delay-ms": str(delay_ms), "x-bench-stream-id": stream_id}
        t0 = time.monotonic()
        arrivals = []
        tail = b""
        try:
            async with session.post(url, data=self.bodies[True], headers=headers) as resp:
                if resp.status != 200:
                    self._error(side, f"status {resp.status}")
                    await resp.read()
                    return None
                async for chunk in resp.content.iter_any():
                    now = time.monotonic()
                    tail += chunk
                    complete = tail.count(b"\n\n")
                    if complete:
                        arrivals.extend([now] * complete)
                        tail = tail[tail.rfind(b"\n\n") + 2 :]
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self._error(side, type(exc).__name__)
            return None
        total = time.monotonic() - t0
        if len(arrivals) != 8:
            self._error(side, f"{len(arrivals)} events")
            return None
        emits = None
        if stream_id is not None:
            # Not timed: when the upstream wrote each event (same CLOCK_MONOTONIC).
            async with self.sessions["direct"].get(f"{self.direct_base}/_emits/{stream_id}") as resp:
                emits = await resp.json()
        return arrivals[0] - t0, arrivals, total, emits

    # Phases -------------------------------------------------------------------------

    async def quiesce(self, limit: float = 60.0) -> float:
        """Wait until the proxy (and worker) use < 3% CPU over 0.3 s; the time waited."""
        t0 = time.monotonic()
        names = [n for n in ("proxy", "worker") if n in self.meter.pids]
        while time.monotonic() - t0 < limit:
            before = {n: cpu_seconds(self.meter.pids[n]) for n in names}
            await asyncio.sleep(0.3)
            if all(cpu_seconds(self.meter.pids[n]) - before[n] < 0.01 for n in names):
                break
        return time.monotonic() - t0

    async def sequential(self, side: str, count: int, fn, *fn_args, deadline: float):
        results = []
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            r = await fn(side, *fn_args)
            if r is not None:
                results.append(r)
        return results

    async def pair(self, run_side):
        """Run `run_side(side)` for each side in turn (direct, floor, proxied), measuring CPU around each.

        Returns (results per side, CPU per side, others' cores, (first, last snapshot)).
        """
        first = self.meter.snapshot()
        results, cpu = {}, {}
        before = first
        for side in self.sides:
            results[side] = await run_side(side)
            after = self.meter.snapshot()
            cpu[side] = {n: after[2][n] - before[2][n] for n in after[2]}
            before = after
        return results, cpu, self.meter.others(first, before), (first, before)

    async def quiet_pairs(self, count: int, run_side, time_limit: float, label: str):
        """`count` accepted pairs; a pair during which other processes used more than
        --max-noise cores is run again (at most `count` times per phase) while the phase
        has time left for it."""
        accepted = []
        discarded = 0
        t_start = time.monotonic()
        deadline = t_start + time_limit
        while len(accepted) < count:
            t0 = time.monotonic()
            results, cpu, others, snaps = await self.pair(run_side)
            took = time.monotonic() - t0
            left = count - len(accepted)
            room = deadline - time.monotonic()
            # Re-runs are capped: every proxied call leaves usage-log work behind.
            if others > self.args.max_noise and room > took * left and discarded < count:
                discarded += 1
                print(f"[client] {label}: pair discarded, other processes used {others:.2f} cores",
                      file=sys.stderr, flush=True)
                continue
            self.meter.add(*snaps)
            accepted.append((results, cpu, others))
            if time.monotonic() > deadline:
                break
        self.discarded[label] = discarded
        return accepted

    async def rounds_sequential(self, total: int, round_size: int, fn, *fn_args, time_limit: float, label: str):
        """`total` calls per side at concurrency 1, in alternating rounds; CPU per side."""
        deadline = time.monotonic() + time_limit + 60

        async def run_side(side):
            return await self.sequential(side, round_size, fn, *fn_args, deadline=deadline)

        pairs = await self.quiet_pairs(max(1, math.ceil(total / round_size)), run_side, time_limit, label)
        out = {side: [] for side in self.sides}
        cpu = {side: {} for side in self.sides}
        for results, pair_cpu, _ in pairs:
            for side in out:
                out[side] += results[side]
                for k, v in pair_cpu[side].items():
                    cpu[side][k] = cpu[side].get(k, 0.0) + v
        return out, cpu

    async def closed_loop(self, side: str, concurrency: int, seconds: float, fn, max_requests: int):
        """`concurrency` workers calling back to back for `seconds`; (completed, wall)."""
        stop_at = time.perf_counter() + seconds
        completed = 0
        issued = 0

        async def worker():
            nonlocal completed, issued
            while time.perf_counter() < stop_at and issued < max_requests:
                issued += 1
                if await fn(side) is not None:
                    completed += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return completed, time.perf_counter() - t0

    async def rounds_throughput(self, concurrency: int, seconds: float, rounds: int, fn, label: str):
        per_round = seconds / rounds

        async def run_side(side):
            return await self.closed_loop(side, concurrency, per_round, fn, max_requests=int(per_round * 20000))

        pairs = await self.quiet_pairs(rounds, run_side, self.args.phase_limit, label)
        result = {side: {"completed": 0, "wall": 0.0, "cpu": {}} for side in self.sides}
        for results, pair_cpu, _ in pairs:
            for side, r in result.items():
                completed, wall = results[side]
                r["completed"] += completed
                r["wall"] += wall
                for k, v in pair_cpu[side].items():
                    r["cpu"][k] = r["cpu"].get(k, 0.0) + v
        for side in result.values():
            side["rps"] = side["completed"] / side["wall"] if side["wall"] else 0.0
        return result

    async def run(self) -> dict:
        a = self.args
        results = {"params": vars(a)}
        log = lambda msg: print(f"[client] {msg}", file=sys.stderr, flush=True)  # noqa: E731

        log("warm-up")
        deadline = time.monotonic() + 60
        for side in self.sides:
            await self.sequential(side, a.warmup, self.nonstream, deadline=deadline)
            await self.sequential(side, a.warmup // 4, self.stream, deadline=deadline)
            await self.closed_loop(side, a.concurrency, 1.0, self.nonstream, 20000)
            await self.closed_loop(side, a.concurrency, 0.5, self.stream, 10000)
        results["warmup_errors"] = json.loads(json.dumps(self.errors))

        # 1. Added latency at concurrency 1, non-streaming.
        results["quiesce_latency"] = await self.quiesce()
        log(f"latency: {a.requests} non-streaming calls per side at concurrency 1")
        lat, cpu = await self.rounds_sequential(
            a.requests, a.round_size, self.nonstream, time_limit=a.phase_limit, label="latency"
        )
        results["latency"] = {
            side: {"n": len(v), "p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99), "mean": sum(v) / max(1, len(v))}
            for side, v in lat.items()
        }
        results["latency_cpu"] = cpu

        # 2. Streams with a delay between events: TTFB and incremental delivery.
        results["quiesce_streams"] = await self.quiesce()
        log(f"streams: {a.streams} per side, {a.delay_ms} ms between events, concurrency 1")
        streams, cpu = await self.rounds_sequential(
            a.streams, max(1, a.streams // 4), self.stream, a.delay_ms, time_limit=a.phase_limit, label="streams"
        )
        summary = {}
        for side, items in streams.items():
            items = [s for s in items if s[3] and len(s[3]) == len(s[1])]
            ttfb = [s[0] for s in items]
            # Incremental: the client had event k before the upstream even wrote event k+1.
            incremental = [
                all(arr[k] < emits[k + 1] for k in range(len(arr) - 1)) for _, arr, _, emits in items
            ]
            # Per event: from the upstream's write to the client's read.
            lags = [arr[k] - emits[k] for _, arr, _, emits in items for k in range(len(arr))]
            # Of the events 1..7 (each written `delay` after the previous one): how long
            # before the next event was written did the client have it.
            margins = [emits[k + 1] - arr[k] for _, arr, _, emits in items for k in range(len(arr) - 1)]
            summary[side] = {
                "n": len(items),
                "ttfb_p50": pct(ttfb, 50),
                "ttfb_p99": pct(ttfb, 99),
                "incremental": sum(incremental),
                "lag_p50": pct(lags, 50),
                "lag_p99": pct(lags, 99),
                "lag_max": max(lags) if lags else float("nan"),
                "min_margin": min(margins) if margins else float("nan"),
                "total_p50": pct([s[2] for s in items], 50),
            }
        results["streams"] = summary
        results["streams_cpu"] = cpu

        # 3. Throughput at concurrency N, non-streaming then streaming.
        results["quiesce_rps"] = await self.quiesce()
        log(f"throughput: non-streaming, concurrency {a.concurrency}, {a.seconds} s per side")
        results["rps_nonstream"] = await self.rounds_throughput(
            a.concurrency, a.seconds, a.rounds, self.nonstream, label="rps_nonstream"
        )
        results["quiesce_rps_stream"] = await self.quiesce()
        log(f"throughput: streaming, concurrency {a.concurrency}, {a.seconds} s per side")
        results["rps_stream"] = await self.rounds_throughput(
            a.concurrency, a.seconds, a.rounds, self.stream, label="rps_stream"
        )

        results["errors"] = self.errors
        results["discarded"] = self.discarded
        results["proxied_sent"] = self.proxied_sent
        results["others_cores"] = self.meter.others_cores()
        results["measured_wall"] = self.meter.wall
        results["cpu_totals"] = self.meter.totals
        return results


async def load_only(args) -> dict:
    """Profiling mode: proxied calls only, for `seconds`, at `concurrency`."""
    async with Client(args) as client:
        fn = {"stream": client.stream, "nonstream": client.nonstream}.get(args.mode)
        if args.mode == "stream-delayed":  # as the bench's stream check: a delay between events
            fn = functools.partial(client.stream, delay_ms=args.delay_ms)
        before = client.meter.snapshot()
        completed, wall = await client.closed_loop(
            "proxied", args.concurrency, args.seconds, fn, max_requests=int(args.seconds * 20000)
        )
        delta = client.meter.add(before, client.meter.snapshot())
        return {"completed": completed, "wall": wall, "cpu": delta, "proxied_sent": client.proxied_sent,
                "errors": client.errors}


async def main_async(args) -> dict:
    if args.mode != "bench":
        return await load_only(args)
    async with Client(args) as client:
        return await client.run()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--direct", required=True)
    p.add_argument("--proxied", required=True)
    p.add_argument("--floor", default="", help="the raw-ASGI floor's base URL (a third side)")
    p.add_argument("--floor-pid", type=int, default=0)
    p.add_argument("--proxy-pid", type=int, required=True)
    p.add_argument("--upstream-pid", type=int, required=True)
    p.add_argument("--worker-pid", type=int, default=0)
    p.add_argument("--mode", choices=("bench", "nonstream", "stream", "stream-delayed"), default="bench")
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--round-size", type=int, default=100)
    p.add_argument("--streams", type=int, default=100)
    p.add_argument("--delay-ms", type=int, default=20)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--phase-limit", type=float, default=180.0,
                   help="seconds a phase may take, re-runs of noisy rounds included")
    p.add_argument("--max-noise", type=float, default=0.25,
                   help="re-run a round pair when other processes used more cores than this")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    for url in filter(None, (args.direct, args.proxied, args.floor)):
        if not url.startswith(("http://127.0.0.1:", "http://[::1]:", "http://localhost:")):
            sys.exit("the load client only talks to loopback addresses")
    try:
        import uvloop

        results = uvloop.run(main_async(args))
    except ImportError:
        results = asyncio.run(main_async(args))
    with open(args.out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
