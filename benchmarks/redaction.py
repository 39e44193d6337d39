"""What redaction costs the usage shipper per request body, and the proxy per call.

    .venv/bin/python benchmarks/redaction.py [--kb 300] [--runs 200]

Bodies of --kb KB: Claude Code's own requests (tests/fixtures/claude_code, recorded from
the real CLI) repeated to that size, the synthetic conversation of worker_ingest.py, the
same with a secret of each kind and many near misses ("task-", "Bearer" in prose: every
prefilter fires), and that one with three organization patterns. Prints the median time
of usage.redaction.redact_bytes per body, and of facts_redact (what the proxy does on
the event loop) per call.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django  # noqa: E402

django.setup()

from benchmarks.worker_ingest import conversation, corpus  # noqa: E402
from usage.redaction import facts_redact, redact_bytes, stream_redact  # noqa: E402

SECRETS = (
    "sk-ant-api03-" + "Ab3" * 30 + "AA",
    "sk-proj-" + "x9Y" * 50,
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc123def456",
    "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----",
)
NEAR_MISSES = "a task-runner, the disk-cache, the bearer of news, ASIA, sk-short, PRIVATE KEY----- "


def claude_code_body(size: int) -> bytes:
    recording = json.loads((ROOT / "tests/fixtures/claude_code/subagents.json").read_text())
    bodies = [r["body"] for r in recording["requests"] if r["method"] == "POST" and r["body"]]
    body = json.loads(max(bodies, key=len))
    messages = list(body["messages"])
    while len(json.dumps(body)) < size:
        body["messages"] += messages
    return json.dumps(body, separators=(",", ":")).encode()


def with_secrets(body: bytes, rng: random.Random) -> bytes:
    document = json.loads(body)
    for index, message in enumerate(document["messages"][: len(SECRETS) * 4]):
        extra = NEAR_MISSES * 3 + SECRETS[index % len(SECRETS)]
        message["content"] = [{"type": "text", "text": extra}] + (
            message["content"] if isinstance(message["content"], list) else [{"type": "text", "text": message["content"]}]
        )
    return json.dumps(document, separators=(",", ":")).encode()


def median_ms(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    size = args.kb * 1024
    rng = random.Random(7)
    synthetic = conversation(corpus(400_000), size, rng)
    recorded = claude_code_body(size)
    secrets = with_secrets(synthetic, rng)
    org = (re.compile(r"ACME-[0-9]{6}"), re.compile(r"ghp_[A-Za-z0-9]{36}"), re.compile(r"password=\S+"))
    cases = [
        ("Claude Code's recorded requests", recorded, ()),
        ("synthetic conversation", synthetic, ()),
        ("with secrets and near misses (every prefilter fires)", secrets, ()),
        ("the same, and 3 organization patterns", secrets, org),
    ]
    print(f"redact_bytes per {args.kb} KB body, median of {args.runs}:")
    for label, body, rules in cases:
        ms = median_ms(lambda: redact_bytes(body, rules), args.runs)
        print(f"  {ms:7.3f} ms  {label} ({len(body) // 1024} KB)")
    words = corpus(20_000).split(" ")
    deltas = [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word + " "}}
        for word in words[:2000]
    ]
    stream = b"".join(b"event: content_block_delta\ndata: " + json.dumps(d).encode() + b"\n\n" for d in deltas)
    ms = median_ms(lambda: stream_redact(redact_bytes(stream)), max(10, args.runs // 4))
    print(f"  {ms:7.3f} ms  a streamed answer of {len(deltas)} text deltas ({len(stream) // 1024} KB), "
          "bytes and the deltas joined")
    facts = {
        "user_agent": "claude-cli/2.0.14 (external, cli)",
        "session_name": "refactor",
        "claude_code_session_id": "0f0e2c4e-8a0e-4a53-9f3b-6c7b3a9d5e11",
        "attribution": {"x-codecosts-user": "alice", "x-claude-code-request-class": "main"},
    }

    def redact_facts():
        facts_redact(dict(facts))

    us = median_ms(redact_facts, 20_000) * 1000
    print(f"facts_redact per call (the proxy, event loop): {us:.2f} µs")


if __name__ == "__main__":
    main()
