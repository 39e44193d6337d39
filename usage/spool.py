"""The disk spool: where usage records wait while the broker (or, in process, the
database) does not answer, and where what can never be delivered is kept."""

import itertools
import logging
import os
import time
from pathlib import Path

import orjson

from usage import dead_letters
from usage.records import batches

logger = logging.getLogger("codecosts.usage")

# A spool file nobody touched for this long is drained by whoever finds it.
STALE_SECONDS = 300.0


class Spool:
    """Append-only files of JSON lines, one per process, claimed atomically for delivery.

    A process drains its own files, those of dead processes, and any left untouched for
    STALE_SECONDS (a dead process whose pid was reused); never a file another live
    process may still be appending to. What can never be delivered goes to its
    dead-letter file (`dead-<pid>.jsonl`), which `manage.py usage_redrive` replays.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.pid = os.getpid()
        self._counter = itertools.count()
        self.path = self.directory / f"usage-{self.pid}-{time.time_ns()}.jsonl"
        self.dead_path = self.directory / f"dead-{self.pid}.jsonl"

    def append(self, payloads: list[dict]) -> None:
        self._write(self.path, b"".join(orjson.dumps(p) + b"\n" for p in payloads))

    def dead_letter(self, line: bytes, reason: str) -> None:
        """Keep a record (or a line that is no record) that cannot be delivered, and why."""
        logger.error("usage record kept as a dead letter (%s)", reason)
        self._write(self.dead_path, dead_letters.entry(line, reason) + b"\n")

    def _write(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as spool_file:
            spool_file.write(data)
            spool_file.flush()
            os.fsync(spool_file.fileno())

    def has_pending(self) -> bool:
        return self.directory.is_dir() and any(self._candidates())

    def _candidates(self):
        stale = time.time() - STALE_SECONDS
        for path in self.directory.glob("usage-*.jsonl"):
            if _owner(path) in (self.pid, None) or not process_alive(_owner(path)) or _mtime(path) < stale:
                yield path
        # Files claimed by a process that died before delivering them.
        for path in self.directory.glob("claimed-*.jsonl"):
            if _owner(path) != self.pid and not process_alive(_owner(path)):
                yield path

    def drain(self, send) -> bool:
        """Deliver every spooled batch; False (keeping the rest) when the broker is unreachable.

        A line that is not a record goes to the dead-letter file: it never blocks the rest.
        """
        if not self.directory.is_dir():
            return True
        for path in list(self._candidates()):
            claimed = self.directory / f"claimed-{self.pid}-{next(self._counter)}-{time.time_ns()}.jsonl"
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process claimed it first
            payloads = []
            for line in claimed.read_bytes().splitlines():
                if not line.strip():
                    continue
                try:
                    payloads.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    self.dead_letter(line, "not a JSON line")
            sent = 0
            for batch in batches(payloads):
                try:
                    send(batch)
                except Exception:  # noqa: BLE001 - unreachable: keep this and the rest
                    self._put_back(claimed, payloads[sent:])
                    return False
                sent += len(batch)
            claimed.unlink()
        return True


    def _put_back(self, claimed: Path, rest: list[dict]) -> None:
        """Keep what a drain could not deliver for the next one."""
        try:
            self.append(rest)
        except OSError:
            # No room for a copy: the claimed file goes back whole (what was delivered
            # from it is delivered again; the writer is idempotent).
            os.rename(claimed, self.directory / f"usage-{self.pid}-{time.time_ns()}.jsonl")
            return
        claimed.unlink()


def spooled_bytes(directory: Path) -> int:
    """What a spool directory holds for delivery, in bytes (0: nothing waits)."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    return sum(
        _size(path) for pattern in ("usage-*.jsonl", "claimed-*.jsonl") for path in directory.glob(pattern)
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _owner(path: Path) -> int | None:
    try:
        return int(path.name.split("-")[1])
    except (IndexError, ValueError):
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def process_alive(pid: int | None) -> bool:
    """Whether a process with this pid runs (one of another user counts)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def unreachable(error: BaseException) -> bool:
    """Whether a delivery failed because the broker (or, in process, the database) did not
    answer, so the batch should wait on disk, rather than because of what it holds."""
    from django.db import InterfaceError, OperationalError
    from kombu.exceptions import OperationalError as BrokerUnreachable
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(error, ResponseError):
        # Redis over its memory limit refuses writes until it is drained: wait, as for an outage.
        return str(error).startswith("OOM")
    return isinstance(
        error,
        (OSError, BrokerUnreachable, RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError),
    )
