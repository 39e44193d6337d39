"""Where the proxy's time goes: py-spy samples of the proxy under load, per request.

Used by `proxy_overhead.py --profile`; also runs alone on a py-spy raw file recorded
with `--threads --format raw`:

    python benchmarks/profile_summary.py profile.txt --requests 20000 --rate 250

py-spy (`pip install py-spy`; not a project dependency) takes a sample of the proxy
`rate` times a second, so samples / rate / requests is time per request:

* recorded with `--gil`, a sample is the stack of the thread holding the GIL: Python
  time per request (all of the proxy's Python work is serialised on the GIL, and the
  proxy runs on one core), attributed to functions;
* recorded without it, a sample is every thread not asleep, *including a thread waiting
  to take the GIL back* (e.g. the event loop after `os.urandom` or a socket call released
  it while the usage-shipper thread runs): comparing the two shows the GIL waits.

Python frames only: time in C (uvloop, httptools, orjson, sqlite3) is charged to the
Python frame that called it; the event loop's own C code between callbacks shows up as
its `Runner.run` frame ("event loop (C)").
"""

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")

# py-spy prints paths relative to sys.path entries: "django/db/...", "proxy/views.py".
CATEGORIES = [
    ("codecosts", re.compile(r"^(?:.*/)?(proxy|usage|codecosts|accounts)/")),
    ("django", re.compile(r"^(?:.*/)?django/")),
    ("asgiref", re.compile(r"^(?:.*/)?asgiref/")),
    ("uvicorn", re.compile(r"^(?:.*/)?uvicorn/")),
    ("aiohttp", re.compile(r"^(?:.*/)?(aiohttp|multidict|yarl|propcache|aiosignal|frozenlist)/")),
    ("celery/kombu/redis", re.compile(r"^(?:.*/)?(celery|kombu|redis|vine|billiard|amqp)/")),
    ("asyncio", re.compile(r"^(?:.*/)?asyncio/")),
]

# Leaf frames of a thread that is blocked, not working (py-spy sometimes reports them).
IDLE_LEAVES = {
    ("_worker", "concurrent/futures/thread.py"),
    ("Shipper.run", "usage/pipeline.py"),
    ("Condition.wait", "threading.py"),
    ("Event.wait", "threading.py"),
    ("Thread._wait_for_tstate_lock", "threading.py"),
    ("Queue.get", "queue.py"),
}


def category(func: str, file: str, leaf: bool = False) -> str:
    if leaf and file.endswith("asyncio/runners.py") and func in ("Runner.run", "run"):
        return "event loop (C: uvloop, httptools, sockets)"
    for name, pattern in CATEGORIES:
        if pattern.search(file):
            return name
    if file.startswith("<") or "/" not in file or re.match(r"^[\w/]+\.py$", file):
        return "stdlib / other"
    return "other"


def parse(path: Path):
    """[(thread name, [(func, file)...] root first, count)] of a py-spy raw --threads file."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        thread = "?"
        if frames and frames[0].startswith("thread ("):
            thread = frames[0].split(":", 1)[1].strip() if ":" in frames[0] else frames[0]
            frames = frames[1:]
        parsed = []
        for frame in frames:
            m = FRAME.match(frame)
            parsed.append((m.group("func"), m.group("file")) if m else (frame, "?"))
        stacks.append((thread, parsed, int(count)))
    return stacks


def thread_kind(name: str) -> str:
    if name.startswith("MainThread"):
        return "event loop thread"
    if "usage-shipper" in name:
        return "usage shipper thread"
    return "executor / other threads"


def is_idle(frames) -> bool:
    if not frames:
        return True
    func, file = frames[-1]
    return any(func == f and file.endswith(p) for f, p in IDLE_LEAVES)


def analyse(path: Path, requests: int, rate: int) -> dict:
    stacks = parse(path)
    us_per_sample = 1e6 / rate / max(1, requests)
    by_thread, by_cat, self_fn, incl_fn = Counter(), Counter(), Counter(), Counter()
    idle = 0
    for thread, frames, count in stacks:
        if is_idle(frames):
            idle += count
            continue
        kind = thread_kind(thread)
        by_thread[kind] += count
        func, file = frames[-1]
        by_cat[category(func, file, leaf=True)] += count
        self_fn[(kind, f"{file}:{func}")] += count
        seen = set()
        for func, file in frames:
            key = (f"{file}:{func}", category(func, file))
            if key not in seen:
                seen.add(key)
                incl_fn[key] += count
    return {
        "us": us_per_sample,
        "total": sum(by_thread.values()),
        "idle": idle,
        "by_thread": by_thread,
        "by_cat": by_cat,
        "self": self_fn,
        "incl": incl_fn,
    }


def summarize(path: Path, requests: int, rate: int, top: int = 25, title: str = "") -> str:
    a = analyse(path, requests, rate)
    u = a["us"]

    def us(n: int) -> str:
        return f"{n * u:7.1f} us {100 * n / max(1, a['total']):5.1f}%"

    out = [
        title or path.name,
        f"  {a['total']} samples at {rate} Hz over {requests} requests "
        f"= {a['total'] * u:.0f} us per request ({a['idle']} idle samples dropped)",
        "  by thread:",
        *(f"    {us(n)}  {name}" for name, n in a["by_thread"].most_common()),
        "  self time by where the code lives (leaf frame):",
        *(f"    {us(n)}  {name}" for name, n in a["by_cat"].most_common()),
        f"  top {top} functions by self time:",
        *(f"    {us(n)}  {name}  ({kind})" for (kind, name), n in a["self"].most_common(top)),
        f"  top {top} functions of codecosts, Django and asgiref by inclusive time:",
    ]
    shown = 0
    for (name, cat), n in a["incl"].most_common():
        if cat in ("codecosts", "django", "asgiref") and shown < top:
            out.append(f"    {us(n)}  [{cat}] {name}")
            shown += 1
    out.append("  top 12 functions of uvicorn, aiohttp and celery/kombu by inclusive time:")
    shown = 0
    for (name, cat), n in a["incl"].most_common():
        if cat in ("uvicorn", "aiohttp", "celery/kombu/redis") and shown < 12:
            out.append(f"    {us(n)}  [{cat}] {name}")
            shown += 1
    return "\n".join(out)


def cpu_seconds_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SCENARIOS = (("nonstream", 32), ("stream", 32), ("nonstream", 1), ("stream-delayed", 1))


def profile_proxy(*, procs, proxy, client_args, env, cpu_front, tmp: Path, seconds: float, rate: int,
                  concurrency: int = 32, quiesce=None, scenarios=None, **_) -> list[dict]:
    """Sample the proxy under proxied-only load in each scenario, with and without --gil."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        print("\n--profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return []
    runs = []
    for mode, conc in SCENARIOS:
        if scenarios and mode not in scenarios:
            continue
        conc = concurrency if conc != 1 else 1
        for gil in (True, False):
            name = f"{mode}-c{conc}-{'gil' if gil else 'all'}"
            raw, out = tmp / f"profile-{name}.txt", tmp / f"profile-{name}.json"
            if quiesce:
                quiesce()
            spy = subprocess.Popen(
                [str(py_spy), "record", "-p", str(proxy.pid), "-r", str(rate), "-d", str(int(seconds)),
                 "--format", "raw", "--threads", *(["--gil"] if gil else []), "-o", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            )
            procs.procs.append((f"py-spy-{name}", spy))
            # The load outlasts the recording, so every sample is taken under load.
            client = procs.start(
                f"client-{name}",
                [*client_args, "--mode", mode, "--concurrency", str(conc), "--seconds", str(seconds + 3),
                 "--out", str(out)],
                env, cpu_front,
            )
            spy.wait(timeout=seconds + 60)
            client.wait(timeout=seconds + 120)
            if not raw.exists() or not out.exists():
                err = spy.stderr.read().decode(errors="replace")[-2000:]
                print(f"\nprofile {name} failed: {err}\n{procs.log(f'client-{name}')}", file=sys.stderr)
                continue
            result = json.loads(out.read_text())
            rps = result["completed"] / result["wall"]
            cpu_per_request = result["cpu"]["proxy"] / max(1, result["completed"]) * 1e6
            # Requests served while py-spy sampled: its duration at the rate measured over
            # the whole (slightly longer) load.
            requests = round(rps * seconds)
            runs.append({"name": name, "raw": raw, "requests": requests, "rps": rps,
                         "cpu_us": cpu_per_request, "proxied_sent": result["proxied_sent"]})
            title = (f"=== proxied {mode}, concurrency {conc}, py-spy {'--gil (Python holding the GIL)' if gil else '(all busy threads, incl. waiting for the GIL)'}"
                     f" ===\n  {rps:.0f} req/s under py-spy; proxy CPU {cpu_per_request:.0f} us per request (/proc)")
            print()
            print(summarize(raw, requests, rate, title=title))
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw", type=Path)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--rate", type=int, required=True)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    print(summarize(args.raw, args.requests, args.rate, args.top))


if __name__ == "__main__":
    main()
