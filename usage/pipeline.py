"""Hand usage records from the proxy to the worker without ever blocking or losing one.

`record()` is called on the event loop: it only puts the record on an in-memory queue.
A shipper thread hooks the records as calls end (record_hooks), batches them (by count,
bytes and age), compresses bodies and publishes them to the Celery `usage` queue (with
no REDIS_URL: to local mode's writer process, usage.writer, or writes them here). While
the broker (in process, the database) is unreachable, batches wait in the spool on disk
(usage.spool) until it answers; the worker's write is idempotent on the record id, so a
batch delivered twice is harmless. A batch refused for what it holds is split until the
refused record is alone; that one goes without its bodies, and becomes a dead letter
(usage.dead_letters) if even that is refused. No failure stops the shipper.
"""

import atexit
import logging
import queue
import threading
import time

import orjson
from django.conf import settings

from usage import outbox
from usage.bodystore.recent import RecentPieces
from usage.journal import Journal, recover
from usage.records import (
    BATCH_SIZE,
    UsageRecord,
    batches,
    record_from_payload,
    record_to_payload,
    without_bodies,
)
from usage.redaction import journalled_facts, journalled_record, redact_record
from usage.spool import Spool, unreachable

logger = logging.getLogger("codecosts.usage")

LINGER_SECONDS = 0.05
# A record alone costs the shipper (and the worker) nearly what a batch does, its code run
# cold (0.9 ms of CPU against 40 us a record in a batch): records ship once a batch is full
# or the first has waited this long. The hooks see them as gathered, within LINGER_SECONDS
# of their calls' ends (budgets.provisional counts spend as calls end).
SHIP_SECONDS = 1.0
record_hooks: list = []
RETRY_SECONDS = 2.0

_queue: queue.SimpleQueue = queue.SimpleQueue()
_STOP = object()
_lock = threading.Lock()
_shipper: "Shipper | None" = None
_journal: Journal | None = None


def started(call_id: str, facts: dict) -> None:
    """A metered call is being forwarded: journal it (one small write; never raises).

    Its header values are redacted first, in place: the record is made of the same facts
    (usage.redaction.journalled_facts)."""
    journalled = journalled_facts(facts)
    if _journal is None or _shipper is None:
        start()
    journal = _journal
    if journal is not None:
        journal.started(call_id, journalled)


def seen(call_id: str, usage) -> None:
    """A stream's first usage: journal it (one small write; never raises)."""
    journal = _journal
    if journal is not None:
        journal.seen(call_id, usage)


def record(usage_record: UsageRecord) -> None:
    """Journal the ended call and queue its record for writing. Constant time; never
    blocks, never raises."""
    if _shipper is None or not _shipper.is_alive():
        start()
    journal = _journal
    if journal is not None:
        # Its error message redacted in place (usage.redaction.journalled_record).
        journal.finished(journalled_record(usage_record))
    _queue.put(usage_record)


def _get(timeout: float | None):
    """The next item queued, waiting up to `timeout` (0 or None: not at all), or None."""
    try:
        return _queue.get(timeout=timeout) if timeout else _queue.get_nowait()
    except queue.Empty:
        return None


def start() -> None:
    """Recover what dead processes left in their journals, then start the shipper."""
    global _shipper, _journal
    with _lock:
        if _shipper is not None and _shipper.is_alive():
            return
        spool = Spool(settings.USAGE_SPOOL_DIR)
        recover(settings.USAGE_SPOOL_DIR, spool.append)
        if _journal is None:
            _journal = Journal(settings.USAGE_SPOOL_DIR)
        _shipper = Shipper(spool, _journal)
        _shipper.start()
        atexit.register(shutdown)


def background_start() -> None:
    """At a server's start: without REDIS_URL there is no Celery beat, so this process runs
    its periodic usage work (retention) in a thread (usage.background)."""
    if not settings.REDIS_URL:
        from usage import background

        background.start()


def shutdown(timeout: float = 10.0) -> None:
    """Deliver (or spool) everything queued, then stop the shipper; the journal goes
    when every call in it is out (else the next start recovers it)."""
    global _shipper, _journal
    with _lock:
        shipper, _shipper = _shipper, None
        journal, _journal = _journal, None
    if shipper is not None and shipper.is_alive():
        _queue.put(_STOP)
        shipper.join(timeout)
    if journal is not None:
        journal.close()


def flush(timeout: float = 10.0) -> bool:
    """Wait until every record queued so far has been delivered or spooled (tests, shutdown)."""
    if _shipper is None:
        return True
    done = threading.Event()
    _queue.put(done)
    return done.wait(timeout)


def deliver(payloads: list[dict]) -> None:
    """Publish a batch to the usage queue; without one, to the writer process, or write it here."""
    from usage.services.logs import usage_log_record_many
    from usage.tasks import usage_log_record_batch

    if settings.CELERY_TASK_ALWAYS_EAGER and settings.USAGE_WRITER:
        outbox.current().put(payloads)
    elif settings.CELERY_TASK_ALWAYS_EAGER:
        from django.db import close_old_connections

        close_old_connections()  # one writer, in order: no piece can be still on its way
        usage_log_record_many(records=[record_from_payload(payload) for payload in payloads], missing_ok=True)
    else:
        # Named, not repr'd: Celery's saferepr of the bodies took 0.7 ms a publish.
        batch = f"[{len(payloads)} records]"
        usage_log_record_batch.apply_async(args=[payloads], retry=False, argsrepr=batch)


class Shipper(threading.Thread):
    def __init__(self, spool: Spool, journal: Journal | None = None, deliver=None):
        super().__init__(name="usage-shipper", daemon=True)
        self.spool, self.journal = spool, journal
        self.deliver = deliver  # None: this module's deliver()
        self.retry_at = 0.0
        self.spool_pending = spool.has_pending()
        # Payloads the spool could not take (a full disk): kept here and retried.
        self.held: list[dict] = []
        # The request pieces sent lately (usage.bodystore): sent again only after a while.
        self.recent = RecentPieces()
        self.pending: list[UsageRecord] = []  # hooked, waiting to ship (still journalled)
        self.ship_at = self.gathered_at = 0.0

    def run(self) -> None:
        while True:
            try:
                if self.cycle():
                    return
            except Exception:  # noqa: BLE001 - the shipper must outlive any one failure
                logger.exception("usage shipper: unexpected failure; going on")

    def cycle(self) -> bool:
        """Gather records and hook them; ship them and drain the spool when due; True once told to stop."""
        wait = max(0.0, self.ship_at - time.monotonic()) if self.pending else RETRY_SECONDS
        item = _get(wait)
        records, markers, stop = [], [], False
        while item is not None:
            if item is _STOP:
                stop = True
            elif isinstance(item, threading.Event):
                markers.append(item)
            else:
                records.append(item)
            if stop or markers or len(self.pending) + len(records) >= BATCH_SIZE:
                break
            item = _get(None)
        for hook in record_hooks if records else ():
            try:
                hook(records)
            except Exception:  # noqa: BLE001 - a hook never costs the records their delivery
                logger.exception("usage record hook %r failed", hook)
        # Calls ending close together are gathered every LINGER_SECONDS, asleep between
        # (a record queued then wakes nobody); one ending alone, at once.
        now = time.monotonic()
        close = len(records) > 1 or (len(records) == 1 and now - self.gathered_at < 2 * LINGER_SECONDS)
        if records:
            if not self.pending:
                self.ship_at = now + SHIP_SECONDS
            self.gathered_at = now
            self.pending += records
        due = stop or markers or len(self.pending) >= BATCH_SIZE or now >= self.ship_at
        try:
            if due and self.pending:
                pending, self.pending = self.pending, []
                for batch in batches(self.payloads(pending)):
                    self.ship(batch)
                if self.journal is not None:
                    self.journal.out([r.id for r in pending])
            if settings.USAGE_WRITER and settings.CELERY_TASK_ALWAYS_EAGER:
                outbox.current().announce()  # what the writer process wrote meanwhile
            if self.spool_pending and time.monotonic() >= self.retry_at:
                self.spool_pending = not (self._deliver_held() and self.spool.drain(self.send))
                if self.spool_pending:
                    self.retry_at = time.monotonic() + RETRY_SECONDS
        finally:
            for marker in markers:
                marker.set()
        if close and not stop:
            time.sleep(LINGER_SECONDS)
        return stop

    def payloads(self, records: list[UsageRecord]) -> list[dict]:
        """The records as payloads; one that cannot be made (a bug) is a dead letter."""
        payloads = []
        for usage_record in records:
            # Secrets out before anything leaves the process (never raises).
            usage_record = redact_record(usage_record)
            try:
                payloads.append(record_to_payload(usage_record, self.recent))
            except Exception as error:  # noqa: BLE001 - never lose the others for it
                logger.exception("usage record %s could not be serialised", usage_record.id)
                self.spool.dead_letter(repr(usage_record).encode(), f"not serialisable: {error!r}")
        return payloads

    def ship(self, payloads: list[dict]) -> None:
        if time.monotonic() < self.retry_at or self.spool_pending:
            # Keep order cheap and honest: while anything waits on disk, new batches join it.
            self.keep(payloads)
            return
        try:
            self.send(payloads)
        except Exception:  # noqa: BLE001 - unreachable: on disk until it answers
            self.keep(payloads)
            self.retry_at = time.monotonic() + RETRY_SECONDS

    def keep(self, payloads: list[dict]) -> None:
        """On disk until the broker answers; in memory while the disk refuses them too."""
        self.spool_pending = True
        try:
            self.spool.append(payloads)
        except OSError:
            logger.exception("usage spool unwritable; %d record(s) held in memory", len(payloads))
            self.held.extend(payloads)

    def _deliver_held(self) -> bool:
        """Send what the disk refused; False (still held) while the broker is unreachable."""
        while self.held:
            batch = next(batches(self.held))
            try:
                self.send(batch)
            except Exception:  # noqa: BLE001 - unreachable: keep holding
                return False
            del self.held[: len(batch)]
        return True

    def send(self, payloads: list[dict]) -> None:
        """Deliver a batch. Raises only when the broker is unreachable; a batch refused for
        anything else is split until the refused record is alone, which then goes without
        its bodies, and to the dead-letter file if even that is refused."""
        try:
            (self.deliver or deliver)(payloads)
            return
        except Exception as error:  # noqa: BLE001
            if unreachable(error):
                # One line, no traceback: during an outage this repeats every retry.
                logger.warning("usage broker unreachable (%s); %d record(s) wait for it", error, len(payloads))
                raise
            logger.warning("usage delivery refused a batch of %d: %r", len(payloads), error)
            refusal = repr(error)[:500]
            # What it carried may not land: every piece travels again with its next use.
            self.recent.forget()
        if len(payloads) > 1:
            middle = len(payloads) // 2
            self.send(payloads[:middle])
            self.send(payloads[middle:])
        elif not payloads[0].get("bodies_dropped"):
            self.send([without_bodies(payloads[0])])
        else:
            self.spool.dead_letter(orjson.dumps(payloads[0]), refusal)
