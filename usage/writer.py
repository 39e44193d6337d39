"""Local mode's usage writer: a process of its own writes the web process's batches, so
the serving process never spends its time, or its GIL, on database writes.

`manage.py serve` (what `make run` starts) runs the writer as its child, starts it again
whenever it dies (`WriterSupervisor`), and the writer stops when its parent is gone.
They meet in the outbox, a directory beside the spool (USAGE_SPOOL_DIR/outbox), as web
processes and Celery workers meet in the broker in hosted mode:

- the web process's shipper puts each batch there as one file (usage.outbox: written
  whole, then renamed into place), so a batch is out of the web process once the rename
  is done and nothing is lost if either process is killed;
- the writer takes the files oldest first and writes them, as the Celery task does
  (a batch refused for what it holds is split down to the record, then a dead letter;
  while the database does not answer, the file waits), and deletes each when written;
  the write is idempotent on the record id, so a file written twice is harmless;
- local mode keeps budgets in the web process (budgets.state), so the writer leaves,
  for each batch, what follows each log it wrote (organization, endpoint, person, cost)
  in a `written-` file; the web process's shipper reads those and announces
  `usage_logs_written` with them (`Outbox.announce`), where budgets recount.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
from django.conf import settings

from usage import outbox
from usage.outbox import Outbox

logger = logging.getLogger("codecosts.usage")

POLL_SECONDS = 0.05
RETRY_SECONDS = 2.0
RESTART_SECONDS = 1.0


class Writer:
    """Takes the outbox's batches and writes them, one at a time (SQLite has one writer)."""

    def __init__(self, box: Outbox):
        from usage.models import UsageLog
        from usage.pipeline import Shipper
        from usage.signals import usage_logs_written
        from usage.spool import Spool

        self.outbox = box
        # The shipper's delivery rules (split a refused batch, dead letters), writing here.
        self.shipper = Shipper(Spool(settings.USAGE_SPOOL_DIR), deliver=_write_here)
        self._written: list[list] = []
        usage_logs_written.connect(self._collect, sender=UsageLog)

    def _collect(self, sender, logs, **kwargs):
        self._written.extend(
            [str(log.organization_id), str(log.endpoint_id or ""), log.person,
             None if log.cost_cents is None else str(log.cost_cents)]
            for log in logs
        )

    def write_waiting(self) -> int:
        """Write every batch waiting; how many; stops early (files kept) while the
        database does not answer."""
        from usage.records import batches

        done = 0
        for path in self.outbox.batches():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # taken by another writer (two servers on one var/)
            payloads, bad = [], []
            for line in data.splitlines():
                try:
                    payloads.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    bad.append(line)
            self._written = []
            try:
                for batch in batches(payloads):
                    self.shipper.send(batch)
            except Exception:  # noqa: BLE001 - unreachable: the file waits for the next try
                return done
            for line in bad:  # once, with the rest of its file
                self.shipper.spool.dead_letter(line, "not a JSON line")
            self.outbox.tell_written(self._written)
            path.unlink(missing_ok=True)
            done += 1
        return done

    def run(self, stopping: threading.Event) -> None:
        from django.db import close_old_connections

        while not stopping.is_set():
            try:
                close_old_connections()  # a connection the database dropped is made anew
                waiting = len(self.outbox.batches())
                written = self.write_waiting()
            except Exception:  # noqa: BLE001 - the writer must outlive any one failure
                logger.exception("usage writer: unexpected failure; going on")
                waiting, written = 1, 0
            stopping.wait(RETRY_SECONDS if written < waiting else POLL_SECONDS)


def _write_here(payloads: list[dict]) -> None:
    from usage.records import record_from_payload
    from usage.services.logs import usage_log_record_many

    # One writer, in order: no piece can be still on its way.
    usage_log_record_many(records=[record_from_payload(p) for p in payloads], missing_ok=True)


def serve(*, parent_pid: int | None = None) -> None:
    """Write the outbox's batches until SIGTERM, or until the parent process is gone."""
    stopping = threading.Event()

    def stop(*_):
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if parent_pid:

        def watch():
            while os.getppid() == parent_pid and not stopping.wait(1.0):
                pass
            stop()

        threading.Thread(target=watch, name="usage-writer-parent", daemon=True).start()
    box = outbox.current()
    for temporary in box.directory.glob(".*.tmp"):
        if time.time() - temporary.stat().st_mtime > 60:
            temporary.unlink(missing_ok=True)  # a batch its web process died writing
    writer = Writer(box)
    writer.run(stopping)
    writer.write_waiting()  # what came in while stopping


class WriterSupervisor(threading.Thread):
    """Runs `manage.py usage_writer` as a child of this process, again whenever it dies."""

    def __init__(self):
        super().__init__(name="usage-writer-supervisor", daemon=True)
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def command(self) -> list[str]:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        return [sys.executable, manage, "usage_writer", "--parent", str(os.getpid())]

    def run(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                # Its own session: a Ctrl-C in the terminal stops the server, which then
                # stops the writer.
                self.process = subprocess.Popen(self.command(), start_new_session=True)
            status = self.process.wait()
            if self._stopping.wait(RESTART_SECONDS):
                return
            logger.warning("usage writer exited (status %s); starting it again", status)

    def stop(self, timeout: float = 15.0) -> None:
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
