"""Hand usage records from the proxy to the worker without ever blocking or losing one.

`record()` is called on the event loop: it only puts the record on an in-memory queue.
A shipper thread compresses bodies, batches records and publishes them to the Celery
`usage` queue (or, with no REDIS_URL, writes them in-process). While the broker (or, in
process, the database) is unreachable, batches are appended to a spool file on disk and
delivered when it answers again; the worker's write is idempotent on the record id, so a
batch delivered twice is harmless.
"""

import atexit
import itertools
import logging
import os
import queue
import threading
import time
from pathlib import Path

import orjson
from django.conf import settings

from usage.records import UsageRecord, record_from_payload, record_to_payload

logger = logging.getLogger("codecosts.usage")

BATCH_SIZE = 100
LINGER_SECONDS = 0.05
RETRY_SECONDS = 2.0

_queue: queue.SimpleQueue = queue.SimpleQueue()
_STOP = object()
_lock = threading.Lock()
_shipper: "Shipper | None" = None


def record(usage_record: UsageRecord) -> None:
    """Queue one record for writing. Constant time; never blocks, never raises."""
    if _shipper is None:
        start()
    _queue.put(usage_record)


def start() -> None:
    global _shipper
    with _lock:
        if _shipper is not None and _shipper.is_alive():
            return
        _shipper = Shipper(Spool(settings.USAGE_SPOOL_DIR))
        _shipper.start()
        atexit.register(shutdown)


def shutdown(timeout: float = 10.0) -> None:
    """Deliver (or spool) everything queued, then stop the shipper."""
    global _shipper
    with _lock:
        shipper, _shipper = _shipper, None
    if shipper is not None and shipper.is_alive():
        _queue.put(_STOP)
        shipper.join(timeout)


def flush(timeout: float = 10.0) -> bool:
    """Wait until every record queued so far has been delivered or spooled (tests, shutdown)."""
    if _shipper is None:
        return True
    done = threading.Event()
    _queue.put(done)
    return done.wait(timeout)


def deliver(payloads: list[dict]) -> None:
    """Publish a batch to the usage queue, or write it here when tasks run in-process."""
    from usage.services.logs import usage_log_record_many
    from usage.tasks import usage_log_record_batch

    if settings.CELERY_TASK_ALWAYS_EAGER:
        from django.db import close_old_connections

        close_old_connections()
        usage_log_record_many(records=[record_from_payload(payload) for payload in payloads])
    else:
        usage_log_record_batch.apply_async(args=[payloads], retry=False)


class Spool:
    """Append-only files of JSON lines, one per process, claimed atomically for delivery."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.pid = os.getpid()
        self._counter = itertools.count()
        self.path = self.directory / f"usage-{self.pid}-{time.time_ns()}.jsonl"

    def append(self, payloads: list[dict]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as spool_file:
            spool_file.write(b"".join(orjson.dumps(p) + b"\n" for p in payloads))
            spool_file.flush()
            os.fsync(spool_file.fileno())

    def has_pending(self) -> bool:
        return self.directory.is_dir() and any(self._candidates())

    def _candidates(self):
        for path in self.directory.glob("usage-*.jsonl"):
            yield path
        # Files claimed by a process that died before delivering them.
        for path in self.directory.glob("claimed-*.jsonl"):
            pid = int(path.name.split("-")[1])
            if pid != self.pid and not _alive(pid):
                yield path

    def drain(self, send) -> bool:
        """Deliver every spooled batch; False (keeping the rest) at the first failure."""
        if not self.directory.is_dir():
            return True
        for path in list(self._candidates()):
            claimed = self.directory / f"claimed-{self.pid}-{next(self._counter)}-{time.time_ns()}.jsonl"
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process claimed it first
            lines = [line for line in claimed.read_bytes().splitlines() if line.strip()]
            payloads = [orjson.loads(line) for line in lines]
            for start in range(0, len(payloads), BATCH_SIZE):
                try:
                    send(payloads[start : start + BATCH_SIZE])
                except Exception:  # noqa: BLE001 - still unreachable: keep the rest
                    self.append(payloads[start:])
                    claimed.unlink()
                    return False
            claimed.unlink()
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Shipper(threading.Thread):
    def __init__(self, spool: Spool):
        super().__init__(name="usage-shipper", daemon=True)
        self.spool = spool
        self.retry_at = 0.0
        self.spool_pending = spool.has_pending()

    def run(self) -> None:
        while True:
            try:
                item = _queue.get(timeout=RETRY_SECONDS)
            except queue.Empty:
                item = None
            batch, markers, stop = [], [], False
            # Linger briefly so a batch carries many records: one publish (or one write)
            # per batch, whatever the request rate.
            deadline = time.monotonic() + LINGER_SECONDS
            while item is not None:
                if item is _STOP:
                    stop = True
                elif isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    batch.append(item)
                remaining = deadline - time.monotonic()
                if stop or markers or len(batch) >= BATCH_SIZE or remaining <= 0:
                    break
                try:
                    item = _queue.get(timeout=remaining)
                except queue.Empty:
                    item = None
            if batch:
                self.ship([record_to_payload(r) for r in batch])
            if self.spool_pending and time.monotonic() >= self.retry_at:
                self.spool_pending = not self.spool.drain(self.send)
                if self.spool_pending:
                    self.retry_at = time.monotonic() + RETRY_SECONDS
            for marker in markers:
                marker.set()
            if stop:
                return

    def ship(self, payloads: list[dict]) -> None:
        if time.monotonic() < self.retry_at or self.spool_pending:
            # Keep order cheap and honest: while anything waits on disk, new batches join it.
            self.spool.append(payloads)
            self.spool_pending = True
            return
        try:
            self.send(payloads)
        except Exception:  # noqa: BLE001
            self.spool.append(payloads)
            self.spool_pending = True
            self.retry_at = time.monotonic() + RETRY_SECONDS

    def send(self, payloads: list[dict]) -> None:
        try:
            deliver(payloads)
        except Exception:
            logger.warning("usage delivery failed; %d record(s) kept on disk", len(payloads), exc_info=True)
            raise
