"""Can one worker keep up with one web process? Logs per second written, beside req/s served.

    .venv/bin/python benchmarks/worker_ingest.py [--calls 2000] [--kb 50 500]

On a private PostgreSQL and Redis (tests/fault_stack.py) with the benchmark's fast fake
provider (fake_upstream.py, its own process): the web process (uvicorn, pinned to CPU 1)
serves `--calls` calls at concurrency 16, each with a Claude Code-sized request body
(a JSON conversation of `--kb` MIN..MAX KB: system prompt, tools, turns of code and tool
results), while no worker runs, so every usage record waits in the broker. Then one
Celery worker process (the solo pool, pinned to the same CPU) starts and writes them
all; its rate is measured from its first committed batch to its last, so start-up is
not counted. Both figures come from the same records in the same run.
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

CLK_TCK = os.sysconf("SC_CLK_TCK")
WORDS = (
    "def return self import from class if else for in while try except with as yield async await "
    "request response usage tokens cost model stream event batch record worker queue broker spool "
    "journal endpoint organization session agent budget price table cache read write input output "
    "None True False print len range dict list str int bytes json value key name path status error"
).split()


def corpus(size: int, seed: int = 7) -> str:
    """Code-like text that compresses about as well as real source and tool output."""
    rng = random.Random(seed)
    words, length = [], 0
    while length < size:
        word = rng.choice(WORDS) + rng.choice(["", "", "_" + str(rng.randrange(100))]) + rng.choice([" ", " ", "(", ".", ", ", "\n    "])
        words.append(word)
        length += len(word)
    return "".join(words)


def conversation(text: str, size: int, rng: random.Random) -> bytes:
    """A Claude Code request of about `size` bytes: system, tools, then turns up to size."""
    def piece(n):
        start = rng.randrange(len(text) - n)
        return text[start : start + n]

    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": False,
        "system": [{"type": "text", "text": piece(12_000), "cache_control": {"type": "ephemeral"}}],
        "tools": [
            {"name": f"tool_{i}", "description": piece(600), "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}
            for i in range(12)
        ],
        "messages": [],
        "metadata": {"user_id": "user_4b1e_account__session_0f0e2c4e-8a0e-4a53-9f3b-6c7b3a9d5e11"},
    }
    turn = 0
    while len(json.dumps(body)) < size:
        turn += 1
        body["messages"] += [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{turn}", "content": piece(rng.randrange(2_000, 20_000))}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"toolu_{turn + 1}", "name": "tool_1", "input": {"path": piece(40)}}]},
        ]
    body["messages"].append({"role": "user", "content": "Go on."})
    return json.dumps(body, separators=(",", ":")).encode()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def serve_all(url: str, bodies: list[bytes], concurrency: int) -> float:
    import aiohttp

    headers = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    queue = list(reversed(bodies))
    statuses = []

    async def client(session):
        while queue:
            async with session.post(url, data=queue.pop(), headers=headers) as response:
                await response.read()
                statuses.append(response.status)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        sys.exit(f"the proxy answered {sorted(set(statuses))}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--kb", type=int, nargs=2, default=(50, 500), metavar=("MIN", "MAX"))
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    from tests.fault_stack import (
        PrivatePostgres,
        PrivateRedis,
        create_endpoint,
        missing_programs,
        product_env,
        rows_by_nonce,
    )
    from tests.live import AsgiServer, CeleryWorker, free_port, wait_until

    if missing := missing_programs():
        sys.exit(f"worker_ingest.py needs {', '.join(missing)}")
    rng = random.Random(11)
    text = corpus(2_000_000)
    bodies = [conversation(text, rng.randrange(args.kb[0] * 1024, args.kb[1] * 1024), rng) for _ in range(args.calls)]
    mean_kb = sum(map(len, bodies)) / len(bodies) / 1024

    directory = Path(tempfile.mkdtemp(prefix="codecosts-ingest-"))
    upstream_port = free_port()
    upstream = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, str(ROOT / "benchmarks" / "fake_upstream.py"), "--port", str(upstream_port)]
    )
    postgres, redis = PrivatePostgres(), PrivateRedis(directory)
    postgres.start()
    postgres.create_database()
    redis.start()
    web = worker = None
    try:
        env = product_env(directory, postgres.url, redis.url, f"http://127.0.0.1:{upstream_port}")
        endpoint_id, slug = create_endpoint(env, "ingest")
        web = AsgiServer(env, directory / "web.log")
        web.args = ["taskset", "-c", "1", *web.args]
        web.start()
        url = f"{web.url}/proxy/{slug}/v1/messages"
        asyncio.run(serve_all(url, bodies[:50], args.concurrency))  # warm up
        web_cpu = cpu_seconds(web.proc.pid)
        elapsed = asyncio.run(serve_all(url, bodies, args.concurrency))
        # Its records are compressed and published by its shipper thread, which may
        # still be at work when the last answer is sent: that is its cost too.
        wait_until(lambda: idle(web.proc.pid), timeout=600, message="the web process to publish everything")
        web_cpu = cpu_seconds(web.proc.pid) - web_cpu
        wait_until(lambda: web_spool_empty(web.url), timeout=60, message="the web process's spool to empty")

        worker = CeleryWorker(env, directory / "worker.log", pool=None)  # as configured
        worker.args = ["taskset", "-c", "1", *worker.args]
        worker.start()
        total = args.calls + 50
        count = lambda: sum(rows_by_nonce(postgres.url, endpoint_id).values())  # noqa: E731
        wait_until(lambda: count() > 0, timeout=120, interval=0.02, message="the first batch")
        first_at, first = time.perf_counter(), count()
        worker_cpu = cpu_seconds(worker.proc.pid)
        wait_until(lambda: count() >= total, timeout=1200, interval=0.02, message=f"{total} logs")
        written = time.perf_counter() - first_at
        worker_cpu = cpu_seconds(worker.proc.pid) - worker_cpu
    finally:
        for process in (web, worker):
            if process:
                process.stop()
        upstream.terminate()
        redis.kill()
        postgres.remove()
    served_rate = args.calls / elapsed
    written_rate = (total - first) / written
    print(f"{args.calls} calls, request bodies {args.kb[0]}-{args.kb[1]} KB (mean {mean_kb:.0f} KB), one process each on CPU 1")
    web_ms = web_cpu / args.calls * 1000
    worker_ms = worker_cpu / (total - first) * 1000
    print(f"  web process     {served_rate:6.0f} req/s answered; {web_ms:5.2f} ms CPU per call, its publishing included: {1000 / web_ms:5.0f} calls/s a core")
    print(f"  worker process  {written_rate:6.0f} logs/s written;  {worker_ms:5.2f} ms CPU per log:{1000 / worker_ms:22.0f} logs/s a core")
    print(f"  one worker writes {written_rate / (1000 / web_ms):.2f}x what one web process can serve on a core")


def idle(pid: int, seconds: float = 1.0) -> bool:
    """Whether the process used (almost) no CPU for a while."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before < 0.02 * seconds


def web_spool_empty(url: str) -> bool:
    import httpx

    return httpx.get(url + "/health", timeout=5).json()["usage_pipeline"]["spooled_bytes"] == 0


if __name__ == "__main__":
    main()
