"""The per-process journal: every metered call on disk from its start, so that a web
process killed with SIGKILL loses no call the provider saw.

Two small JSON lines a call (three for a stream), each one `os.write` to an O_APPEND
file (no fsync: a plain write survives the process, which is what SIGKILL kills; the
machine going down is what the spool's fsync is for):

- `{"s": {...}}` when the call is forwarded: what is known before the answer (ids, path,
  start, key, session headers);
- `{"u": {"id": ..., "usage": {...}}}` for a stream, once, when its first usage is
  seen (Anthropic's message_start: the input the provider bills whatever follows);
- `{"f": {...}}` when it ends, before its record is handed to the pipeline: the record
  as a payload without bodies (usage, status, timings).

The shipper tells the journal when a record is out of the process (published, written,
spooled or kept as a dead letter); a journal file all of whose calls are out is deleted
once a newer one is in use (files rotate at ROTATE_BYTES). A file whose process is
gone is recovered by the next process to start (`recover`), exactly once (claimed by
rename): each finished call is delivered from its `f` line, without its bodies, and each
call with only an `s` line as outcome `interrupted`, with the usage of its `u` line if
it has one. The writer is idempotent on the
record id, so a call already written is not written twice.
"""

import logging
import os
import threading
import time
from dataclasses import fields
from pathlib import Path

import orjson

from usage.records import BODY_FIELDS, Outcome, UsageRecord, record_summary
from usage.spool import process_alive

logger = logging.getLogger("codecosts.usage")

ROTATE_BYTES = 64 * 1024 * 1024
# What a finish line keeps: the record but its bodies (which stay the pipeline's).
_FINISH_FIELDS = tuple(f.name for f in fields(UsageRecord) if f.name not in BODY_FIELDS)
_WITHOUT_BODIES = {"request_body": "", "response_body": "", "bodies_dropped": True}


class Journal:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._generation = -1
        self._fd = -1
        self._size = 0
        self._files: dict[int, Path] = {}
        # Calls not yet out of the process, per journal file.
        self._open_calls: dict[int, int] = {}
        self._generation_of: dict[str, int] = {}
        self._quiet_until = 0.0
        self._rotate()

    def _rotate(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._generation += 1
        path = self.directory / f"journal-{self.pid}-{time.time_ns()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._size = fd, 0
        self._files[self._generation] = path
        self._open_calls[self._generation] = 0

    def started(self, call_id: str, facts: dict) -> None:
        """The call is being forwarded (event loop; one small write)."""
        line = orjson.dumps({"s": facts}) + b"\n"
        with self._lock:
            try:
                if self._size > ROTATE_BYTES:
                    self._rotate()
                    self._collect()
                os.write(self._fd, line)
            except OSError:
                self._failed()
                return
            self._size += len(line)
            self._generation_of[call_id] = self._generation
            self._open_calls[self._generation] += 1

    def seen(self, call_id: str, usage) -> None:
        """A stream's usage so far, for the log if the process dies before its end."""
        self._append(orjson.dumps({"u": {"id": call_id, "usage": usage}}) + b"\n")

    def finished(self, record: UsageRecord) -> None:
        """The call ended: its record, bodies aside, before it goes to the pipeline.
        (orjson writes the TokenUsage dataclass itself: no dict is built for it here.)"""
        self._append(orjson.dumps({"f": {name: getattr(record, name) for name in _FINISH_FIELDS}}) + b"\n")

    def _append(self, line: bytes) -> None:
        with self._lock:
            try:
                os.write(self._fd, line)
            except OSError:
                self._failed()
                return
            self._size += len(line)

    def _failed(self) -> None:
        # The call goes on, and its record through the pipeline; only a kill of this
        # process before the record is out would lose it now.
        if time.monotonic() > self._quiet_until:
            logger.exception("usage journal unwritable; calls go on without it")
            self._quiet_until = time.monotonic() + 60

    def out(self, call_ids) -> None:
        """These records are out of the process (shipper thread)."""
        with self._lock:
            for call_id in call_ids:
                generation = self._generation_of.pop(call_id, None)
                if generation is not None:
                    self._open_calls[generation] -= 1
            self._collect()

    def _collect(self) -> None:
        for generation in [g for g, n in self._open_calls.items() if n == 0 and g != self._generation]:
            del self._open_calls[generation]
            self._files.pop(generation).unlink(missing_ok=True)

    def close(self) -> None:
        """At a clean exit: remove the journal if every call is out; else leave it for
        the next start to recover."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            for generation, count in list(self._open_calls.items()):
                if count == 0:
                    self._files.pop(generation).unlink(missing_ok=True)
                    del self._open_calls[generation]


def recover(directory: Path, keep) -> int:
    """Turn the journals of dead processes into payloads and give them to `keep` (the
    spool's append: on disk, fsynced) before deleting them; return how many calls."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    recovered = 0
    own = os.getpid()
    for path in sorted(directory.glob("journal-*.jsonl")) + sorted(directory.glob("recovering-*.jsonl")):
        pid, created_ns = _writer(path)
        if pid == own or _running_since(pid, created_ns):
            continue
        claimed = directory / f"recovering-{own}-{time.time_ns()}-{path.name.split('-', 1)[1]}"
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            continue  # another process is recovering it
        payloads = _payloads(claimed.read_bytes())
        if payloads:
            keep(payloads)
        claimed.unlink()
        recovered += len(payloads)
        if payloads:
            logger.warning("usage journal %s: recovered %d call(s) of a dead process", path.name, len(payloads))
    return recovered


def _payloads(data: bytes) -> list[dict]:
    started: dict[str, dict] = {}
    seen: dict[str, dict] = {}
    finished: dict[str, dict] = {}
    for line in data.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # the last line, cut by the kill
        if "s" in entry:
            started[entry["s"]["id"]] = entry["s"]
        elif "u" in entry:
            seen[entry["u"]["id"]] = entry["u"]["usage"]
        elif "f" in entry:
            finished[entry["f"]["id"]] = entry["f"]
    payloads = [{**payload, **_WITHOUT_BODIES} for payload in finished.values()]
    for call_id, facts in started.items():
        if call_id not in finished:
            payloads.append(_interrupted(facts, seen.get(call_id)))
    return payloads


def _interrupted(facts: dict, usage: dict | None) -> dict:
    """The payload of a call the process died in: what was known at its start, and the
    usage seen before the kill."""
    record = UsageRecord(
        **{k: v for k, v in facts.items() if k in UsageRecord.__dataclass_fields__},
        duration_ms=0,
        status_code=None,
        outcome=Outcome.INTERRUPTED,
        incomplete=True,
    )
    payload = record_summary(record)
    if usage:
        payload["usage"] = usage
    return payload


def _writer(path: Path) -> tuple[int | None, int]:
    """The writing process and when it made the file, from the name: for a recovering-
    file, the process recovering it and when it claimed it."""
    parts = path.stem.split("-")
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return None, 0


def _running_since(pid: int | None, created_ns: int) -> bool:
    """Whether process `pid` is alive and was already running when the file was made
    (else its pid was reused: the file's writer is gone)."""
    if not process_alive(pid):
        return False
    started = _process_start(pid)
    return started is None or started <= created_ns / 1e9 + 1


def _process_start(pid: int) -> float | None:
    """When a process started (epoch seconds, Linux /proc), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rpartition(")")[2].split()[19])
        boot = next(
            int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")
