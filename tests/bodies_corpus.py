"""Claude Code sessions as their request bodies, generated: what the body store is
measured (benchmarks/bodies.py) and tested on.

Each session starts from a request Claude Code 2.1.197 really sent (tests/fixtures/
claude_code/subagents.json: its system blocks, 24 tools, metadata and settings), then
grows turn by turn as Claude Code's do: the assistant's text and tool call, the tool's
result (a file read, a command's output: code-like text that compresses as code does),
the whole conversation sent again every turn, and the `cache_control` marker moving to
the newest message (so the message before it changes bytes once). Sessions differ in
their id, working directory, prompts and results; the same seed gives the same bytes.
"""

import json
import random
from functools import cache
from pathlib import Path

RECORDED = Path(__file__).parent / "fixtures" / "claude_code" / "subagents.json"
_WORDS = (
    "def return self value result request response model usage cost tokens session "
    "import from class if else for in while try except raise with as None True False "
    "organization endpoint budget piece digest manifest skeleton batch record worker "
    "the a of to and is that it on be by this an are not or which proxy stream body"
).split()


@cache
def _recorded() -> dict:
    requests = json.loads(RECORDED.read_text())["requests"]
    return json.loads(next(r["body"] for r in requests if r["body"]))


def _code(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        indent = "    " * rng.randint(0, 3)
        out.append(indent + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 12))))
    return "\n".join(out)


def _text_block(text: str) -> dict:
    return {"type": "text", "text": text}


def session_bodies(seed: int, turns: int = 100) -> list[bytes]:
    """The request bodies of one `turns`-long session, as Claude Code would send them."""
    rng = random.Random(seed)
    base = _recorded()
    session_id = f"{rng.getrandbits(128):032x}"
    system = json.loads(json.dumps(base["system"]))
    system[-1]["text"] = system[-1]["text"] + f"\nWorking directory: /home/dev/project-{seed}\n"
    metadata = {"user_id": json.dumps({"device_id": f"{seed:064x}", "account_uuid": "", "session_id": session_id}, separators=(",", ":"))}
    messages = [{"role": "user", "content": [_text_block(f"Task {seed}: " + _code(rng, 3))]}]
    bodies = []
    for turn in range(turns):
        sent = json.loads(json.dumps(messages))
        sent[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        body = {
            "model": base["model"], "messages": sent, "system": system, "tools": base["tools"],
            "metadata": metadata, "max_tokens": base["max_tokens"], "thinking": base["thinking"],
            "stream": True,
        }
        bodies.append(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
        tool_id = f"toolu_{seed:04d}{turn:04d}{rng.getrandbits(32):08x}"
        messages.append({"role": "assistant", "content": [
            _text_block(_code(rng, rng.randint(1, 4))),
            {"type": "tool_use", "id": tool_id, "name": rng.choice(["Read", "Bash", "Grep", "Edit"]),
             "input": {"file_path": f"/home/dev/project-{seed}/src/module_{rng.randint(1, 60)}.py"}},
        ]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool_id, "content": _code(rng, rng.randint(10, 120))},
        ]})
    return bodies


def corpus(sessions: int = 1000, seed: int = 7):
    """(session number, its bodies) for `sessions` sessions of 1 to 60 turns (most short)."""
    rng = random.Random(seed)
    for number in range(sessions):
        yield number, session_bodies(seed * 100_000 + number, turns=min(60, 1 + int(rng.expovariate(1 / 12))))
