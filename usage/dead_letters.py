"""Usage records that could not be written, kept until `manage.py usage_redrive` replays them.

Two places, one per end of the pipeline:
- the worker's: batches still failing after the task's retries (a database down for
  hours), in the Redis list DEAD_LETTER_KEY, next to the queue they came from (without
  Redis, where tasks run in process, in the spool directory);
- the web machine's: a record the broker or the in-process writer refused even without
  its bodies, in `dead-<pid>.jsonl` files of the spool directory (usage.spool.Spool).

Each entry is `{"reason": str, "line": <the payload as JSON text>}`. Nothing here is
ever dropped: replaying an entry that fails again puts it back.
"""

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import redis
from django.conf import settings

logger = logging.getLogger("codecosts.usage")

DEAD_LETTER_KEY = "codecosts:usage:dead-letters"
TIMEOUT_SECONDS = 2.0


def _client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )


def entry(line: bytes, reason: str) -> bytes:
    """One dead letter: the payload's JSON line (or a line that is none), and why."""
    return orjson.dumps({"reason": reason[:500], "line": line.decode("utf-8", "replace")})


def dead_letter_batch(payloads: list[dict], reason: str) -> None:
    """Keep a batch the writer gave up on: in Redis, or without Redis (tasks in process)
    in the spool directory. Raises if it cannot be kept: the task then fails
    unacknowledged and is delivered again."""
    logger.error("usage: %d record(s) kept as dead letters: %s", len(payloads), reason)
    lines = [entry(orjson.dumps(payload), reason) for payload in payloads]
    if not settings.REDIS_URL:
        spool_dir = Path(settings.USAGE_SPOOL_DIR)
        spool_dir.mkdir(parents=True, exist_ok=True)
        with open(spool_dir / f"dead-{os.getpid()}.jsonl", "ab") as dead_file:
            dead_file.write(b"".join(line + b"\n" for line in lines))
            dead_file.flush()
            os.fsync(dead_file.fileno())
        return
    client = _client()
    try:
        client.rpush(DEAD_LETTER_KEY, *lines)
    finally:
        client.close()


def _spool_files(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.glob("dead-*.jsonl")) if spool_dir.is_dir() else []


def dead_letter_count(spool_dir: Path | None = None) -> int:
    """Entries waiting in both places (the web machine's: this machine's spool directory)."""
    spool_dir = Path(spool_dir or settings.USAGE_SPOOL_DIR)
    count = sum(len(path.read_bytes().splitlines()) for path in _spool_files(spool_dir))
    if settings.REDIS_URL:
        client = _client()
        try:
            count += client.llen(DEAD_LETTER_KEY)
        finally:
            client.close()
    return count


def redrive(deliver: Callable[[list[dict]], None], spool_dir: Path | None = None) -> Iterator[tuple[int, int]]:
    """Replay every dead letter through `deliver`, one record at a time; yields (replayed,
    failed) as it goes. A record that fails again is kept (at the end of its list)."""
    spool_dir = Path(spool_dir or settings.USAGE_SPOOL_DIR)
    replayed = failed = 0
    for path in _spool_files(spool_dir):
        # Claimed by renaming, so a concurrent redrive or writer never shares the file.
        claimed = path.with_name(f"redriving-{path.name}")
        try:
            path.rename(claimed)
        except FileNotFoundError:
            continue
        kept = []
        for raw in claimed.read_bytes().splitlines():
            if _replay(raw, deliver):
                replayed += 1
            else:
                failed += 1
                kept.append(raw)
            yield replayed, failed
        if kept:
            with open(path, "ab") as dead_file:
                dead_file.write(b"".join(line + b"\n" for line in kept))
        claimed.unlink()
    if not settings.REDIS_URL:
        return
    client = _client()
    try:
        # One pass over what is there now: entries that fail again go to the end.
        for _ in range(client.llen(DEAD_LETTER_KEY)):
            raw = client.lpop(DEAD_LETTER_KEY)
            if raw is None:
                break
            if _replay(raw, deliver):
                replayed += 1
            else:
                failed += 1
                client.rpush(DEAD_LETTER_KEY, raw)
            yield replayed, failed
    finally:
        client.close()


def _replay(raw: bytes, deliver) -> bool:
    try:
        payload = orjson.loads(orjson.loads(raw)["line"])
        deliver([payload])
    except Exception as error:  # noqa: BLE001 - kept for the next redrive, and said why
        logger.warning("usage redrive: a record failed again: %r", error)
        return False
    return True
