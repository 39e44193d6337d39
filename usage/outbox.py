"""The outbox: where local mode's web process puts its usage batches and the writer
process (usage.writer) takes them, and where the writer leaves, per batch, what follows
each log it wrote, which the web process announces (`usage_logs_written`). The notes
have a directory of their own (`written/`), so that the web process's look for them
costs the same however many batches wait for the writer.

A file appears whole or not at all (written, then renamed into place). Files are not
synced, as the journal is not: each survives the kill of either process; what a machine
going down at that moment loses is the batches the writer had not yet taken.
"""

import contextlib
import itertools
import logging
import os
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
from django.conf import settings

logger = logging.getLogger("codecosts.usage")

ANNOUNCE_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class WrittenLog:
    """What the web process is told of a log the writer wrote (usage.signals)."""

    organization_id: str
    endpoint_id: str | None
    person: str
    cost_cents: Decimal | None


class Outbox:
    """The directory the web process puts batches in and the writer takes them from."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._path = str(self.directory)
        self._notes = os.path.join(self._path, "written")
        self._counter = itertools.count()
        self._announce_at = 0.0

    def _write(self, directory: str, prefix: str, data: bytes) -> None:
        """A file that appears whole or not at all (plain os calls: the shipper writes one
        a batch)."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._counter)}.jsonl"
        temporary = os.path.join(directory, f".{name}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(temporary, os.path.join(directory, prefix + name))

    def put(self, payloads: list[dict]) -> None:
        """The web process: hand a batch to the writer. Not synced, as the journal is not:
        a file survives the kill of either process; a batch the writer has not taken yet
        is lost only if the machine goes down in the moment between."""
        self._write(self._path, "batch-", b"".join(orjson.dumps(p) + b"\n" for p in payloads))

    @staticmethod
    def _named(directory: str, prefix: str) -> list[str]:
        try:
            return sorted(name for name in os.listdir(directory) if name.startswith(prefix))
        except FileNotFoundError:
            return []

    def batches(self) -> list[Path]:
        """The writer: the batches waiting, oldest first."""
        return [self.directory / name for name in self._named(self._path, "batch-")]

    def tell_written(self, written: list[list]) -> None:
        """The writer: what follows the logs of a batch it wrote, for the web process."""
        if written:
            self._write(self._notes, "written-", orjson.dumps(written))

    def announce(self) -> int:
        """The web process: announce `usage_logs_written` for the logs the writer wrote
        since last asked (as WrittenLog: what follows of them), at most every
        ANNOUNCE_SECONDS (the spend of calls not yet announced is counted meanwhile as
        pending: budgets.provisional)."""
        from usage.models import UsageLog
        from usage.signals import usage_logs_written

        now = time.monotonic()
        if now < self._announce_at:
            return 0
        self._announce_at = now + ANNOUNCE_SECONDS
        logs = []
        for path in (os.path.join(self._notes, name) for name in self._named(self._notes, "written-")):
            try:
                with open(path, "rb") as note:
                    written = orjson.loads(note.read())
                os.unlink(path)
            except (OSError, orjson.JSONDecodeError):
                logger.exception("usage writer's note %s could not be read", path)
                with contextlib.suppress(OSError):
                    os.unlink(path)
                continue
            logs += [
                WrittenLog(organization_id, endpoint_id or None, person, None if cost is None else Decimal(cost))
                for organization_id, endpoint_id, person, cost in written
            ]
        if logs:
            usage_logs_written.send(sender=UsageLog, logs=logs)
        return len(logs)


_outboxes: dict[str, Outbox] = {}


def current() -> Outbox:
    """This process's outbox (USAGE_SPOOL_DIR/outbox); found by the setting's text (the
    shipper asks twice a batch, and hashing a Path costs more than the rest)."""
    spool_dir = str(settings.USAGE_SPOOL_DIR)
    box = _outboxes.get(spool_dir)
    if box is None:
        box = _outboxes[spool_dir] = Outbox(Path(spool_dir) / "outbox")
    return box
