"""usage.pipeline and usage.spool: the disk spool and the shipper thread, with the broker replaced at the
boundary (`pipeline.deliver`) by a sender the test controls.

Every test gets its own in-memory queue and spool directory; the module's queue and
shipper are put back afterwards.
"""

import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter

import orjson
import pytest

from tests.factories import usage_record
from usage import pipeline
from usage.records import BATCH_MAX_BYTES, BATCH_SIZE, batches, payload_bytes, record_to_payload
from usage.spool import STALE_SECONDS, Spool, process_alive

WAIT_SECONDS = 10.0


class Sender:
    """Stands in for the broker: keeps every batch it accepts, refuses while `down`."""

    def __init__(self, down: bool = False):
        self.down = down
        self.delay = 0.0
        self.batches: list[list[dict]] = []
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, payloads: list[dict]) -> None:
        time.sleep(self.delay)
        with self._lock:
            if self.down:
                self.refused += 1
                raise ConnectionError("broker unreachable")
            self.batches.append(list(payloads))

    @property
    def ids(self) -> list[str]:
        with self._lock:
            return [payload["id"] for batch in self.batches for payload in batch]

    @property
    def payloads(self) -> list[dict]:
        with self._lock:
            return [payload for batch in self.batches for payload in batch]


def wait_until(condition, timeout: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def assert_each_delivered_once(sender: Sender, expected_ids: list[str]) -> None:
    counts = Counter(sender.ids)
    lost = [i for i in expected_ids if counts[i] == 0]
    duplicated = [i for i, n in counts.items() if n > 1]
    unexpected = set(counts) - set(expected_ids)
    assert (len(lost), len(duplicated), len(unexpected)) == (0, 0, 0), (
        f"lost {len(lost)}, duplicated {len(duplicated)}, unexpected {len(unexpected)} "
        f"of {len(expected_ids)} records"
    )


def payloads(count: int) -> list[dict]:
    return [record_to_payload(usage_record()) for _ in range(count)]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    assert not process_alive(process.pid)
    return process.pid


def write_claimed(directory, pid: int, batch: list[dict]):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"claimed-{pid}-0-{time.time_ns()}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in batch))
    return path


@pytest.fixture
def spool_dir(tmp_path):
    return tmp_path / "spool"


@pytest.fixture
def fresh_queue(monkeypatch):
    """A queue of this test's own in place of the module's (and no shipper of an earlier
    test's reading it)."""
    pipeline.shutdown()
    monkeypatch.setattr(pipeline, "_queue", queue.SimpleQueue())
    monkeypatch.setattr(pipeline, "_shipper", None)
    return pipeline._queue


@pytest.fixture
def sender(monkeypatch):
    sender = Sender()
    monkeypatch.setattr(pipeline, "deliver", sender)
    return sender


@pytest.fixture
def make_shipper(fresh_queue, sender, spool_dir, monkeypatch):
    """Build (not start) a Shipper over the test's spool; installed as the module's
    shipper so record/flush/shutdown use it. Stopped at teardown."""
    shippers = []

    def make() -> pipeline.Shipper:
        shipper = pipeline.Shipper(Spool(spool_dir))
        monkeypatch.setattr(pipeline, "_shipper", shipper)
        shippers.append(shipper)
        return shipper

    yield make
    for shipper in shippers:
        if shipper.is_alive():
            fresh_queue.put(pipeline._STOP)
            shipper.join(WAIT_SECONDS)


# --- Spool --------------------------------------------------------------------------


def test_a_spool_gives_back_what_was_appended_equal_and_in_order(spool_dir):
    """Batches appended to the spool come back from drain as equal payloads, in order,
    and the drained spool has nothing left."""
    spool = Spool(spool_dir)
    first, second = payloads(2), payloads(1)
    assert not spool.has_pending()

    spool.append(first)
    spool.append(second)
    assert spool.has_pending()
    sender = Sender()
    assert spool.drain(sender) is True

    assert sender.payloads == first + second
    assert not spool.has_pending()
    assert list(spool_dir.iterdir()) == []


def test_a_drain_the_sender_refuses_keeps_the_rest_for_the_next_drain(spool_dir):
    """When the send of a batch fails, drain stops and keeps that batch and the ones
    after it; the next drain delivers them, and each record arrives exactly once."""
    spool = Spool(spool_dir)
    spooled = payloads(2 * BATCH_SIZE + 50)
    spool.append(spooled)
    sender = Sender()

    def first_batch_then_down(batch):
        sender(batch)
        sender.down = True

    assert spool.drain(first_batch_then_down) is False
    assert sender.ids == [p["id"] for p in spooled[: BATCH_SIZE]]
    assert spool.has_pending()

    sender.down = False
    assert spool.drain(sender) is True

    assert sender.payloads == spooled
    assert_each_delivered_once(sender, [p["id"] for p in spooled])
    assert max(len(batch) for batch in sender.batches) == BATCH_SIZE
    assert not spool.has_pending()
    assert list(spool_dir.iterdir()) == []


def test_a_spool_file_claimed_by_a_live_process_is_left_to_it(spool_dir):
    """A file another running process has claimed (it is delivering it) is neither
    pending nor drained here."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claimed = write_claimed(spool_dir, holder.pid, payloads(3))
        spool = Spool(spool_dir)
        sender = Sender()

        assert not spool.has_pending()
        assert spool.drain(sender) is True

        assert sender.batches == []
        assert claimed.exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_spool_file_claimed_by_a_dead_process_is_recovered(spool_dir):
    """A file claimed by a process that died before delivering it is pending for the
    next process and drained by it, every record once."""
    left = payloads(3)
    claimed = write_claimed(spool_dir, dead_pid(), left)
    spool = Spool(spool_dir)
    sender = Sender()

    assert spool.has_pending()
    assert spool.drain(sender) is True

    assert sender.payloads == left
    assert not claimed.exists()
    assert not spool.has_pending()


def test_a_shipper_started_over_a_dead_processs_spool_delivers_it(make_shipper, sender, spool_dir):
    """At start the shipper finds what a dead process left on disk and delivers it
    without waiting for a new record."""
    left = payloads(5)
    write_claimed(spool_dir, dead_pid(), left)
    shipper = make_shipper()
    shipper.start()

    assert pipeline.flush(WAIT_SECONDS)

    assert sender.payloads == left
    assert not shipper.spool.has_pending()


# --- Shipper --------------------------------------------------------------------------


def test_the_shipper_delivers_queued_records_in_batches_of_at_most_batch_size(
    make_shipper, sender, fresh_queue, monkeypatch
):
    """Records already queued go out in full batches of BATCH_SIZE (one publish per
    batch), each record once, as the payloads record_to_payload makes, in order."""
    monkeypatch.setattr(pipeline, "SHIP_SECONDS", 3.0)
    records = [usage_record() for _ in range(2 * BATCH_SIZE + 50)]
    for record in records:
        fresh_queue.put(record)
    make_shipper().start()

    # Full batches go at once; the rest when its first record has waited SHIP_SECONDS.
    assert wait_until(lambda: len(sender.ids) >= 2 * BATCH_SIZE, timeout=2)
    assert len(sender.ids) == 2 * BATCH_SIZE
    assert wait_until(lambda: len(sender.ids) >= len(records))

    full = BATCH_SIZE
    assert [len(batch) for batch in sender.batches] == [full, full, 50]
    assert sender.payloads == [record_to_payload(r) for r in records]
    assert_each_delivered_once(sender, [r.id for r in records])


def test_records_ending_close_together_are_gathered_in_one_wake_and_ship_as_one_batch(
    make_shipper, sender, fresh_queue, monkeypatch
):
    """A record ending alone is gathered (and hooked) at once. One ending soon after it
    is too, and the shipper then sleeps out the linger, so those ending meanwhile are
    gathered together; all of them ship as one batch."""
    monkeypatch.setattr(pipeline, "LINGER_SECONDS", 0.5)
    monkeypatch.setattr(pipeline, "SHIP_SECONDS", 2.0)
    gathered = []
    monkeypatch.setattr(pipeline, "record_hooks", [lambda records: gathered.append([r.id for r in records])])
    make_shipper().start()
    records = [usage_record() for _ in range(5)]

    fresh_queue.put(records[0])
    assert wait_until(lambda: len(gathered) == 1, timeout=0.3)
    fresh_queue.put(records[1])
    assert wait_until(lambda: len(gathered) == 2, timeout=0.3)
    for record in records[2:]:
        fresh_queue.put(record)
    time.sleep(0.2)
    assert len(gathered) == 2  # asleep: the linger is not over

    assert wait_until(lambda: len(sender.ids) >= len(records))
    assert gathered == [[records[0].id], [records[1].id], [r.id for r in records[2:]]]
    assert [[p["id"] for p in batch] for batch in sender.batches] == [[r.id for r in records]]


def test_records_ending_apart_share_a_batch_and_are_hooked_as_they_end(
    make_shipper, sender, fresh_queue, monkeypatch
):
    """Records wait to ship until SHIP_SECONDS after the first of them, so a quiet process
    ships several a batch, not one; the hooks see each record within the linger of its
    call's end all the same, and a record alone still goes once its wait is over."""
    monkeypatch.setattr(pipeline, "LINGER_SECONDS", 0.05)
    monkeypatch.setattr(pipeline, "SHIP_SECONDS", 1.0)
    hooked = []
    monkeypatch.setattr(pipeline, "record_hooks", [lambda records: hooked.extend((r.id, time.monotonic()) for r in records)])
    make_shipper().start()
    first, second, alone = usage_record(), usage_record(), usage_record()

    ended = {first.id: time.monotonic()}
    fresh_queue.put(first)
    time.sleep(0.3)
    ended[second.id] = time.monotonic()
    fresh_queue.put(second)
    assert wait_until(lambda: len(hooked) == 2, timeout=1)
    assert sender.batches == []  # hooked, not yet shipped
    assert wait_until(lambda: len(sender.ids) >= 2, timeout=2)
    assert [[p["id"] for p in batch] for batch in sender.batches] == [[first.id, second.id]]
    assert [record_id for record_id, _ in hooked] == [first.id, second.id]
    assert all(at - ended[record_id] < 0.2 for record_id, at in hooked)

    fresh_queue.put(alone)
    time.sleep(0.5)
    assert len(sender.batches) == 1
    assert wait_until(lambda: len(sender.batches) == 2, timeout=2)
    assert [p["id"] for p in sender.batches[1]] == [alone.id]


def test_a_flush_does_not_wait_for_the_records_to_be_due(make_shipper, sender, fresh_queue, monkeypatch):
    monkeypatch.setattr(pipeline, "SHIP_SECONDS", 5.0)
    make_shipper().start()
    record = usage_record()
    fresh_queue.put(record)
    time.sleep(0.1)  # gathered: waiting to ship
    started = time.monotonic()

    assert pipeline.flush(timeout=3)
    assert time.monotonic() - started < 1
    assert sender.ids == [record.id]


def test_records_the_sender_refuses_are_spooled_and_delivered_once_it_answers(
    make_shipper, sender, fresh_queue, spool_dir, monkeypatch
):
    """While the broker is down batches land in the spool (and later ones join them);
    once it answers, every record is delivered exactly once and the spool is empty."""
    monkeypatch.setattr(pipeline, "RETRY_SECONDS", 0.1)
    sender.down = True
    shipper = make_shipper()
    shipper.start()
    before = [usage_record() for _ in range(BATCH_SIZE + 30)]
    for record in before:
        pipeline.record(record)

    assert wait_until(lambda: sender.refused >= 3 and any(spool_dir.glob("usage-*.jsonl")))
    assert sender.batches == []

    sender.down = False
    after = [usage_record() for _ in range(20)]
    for record in after:
        pipeline.record(record)

    expected = [r.id for r in before + after]
    assert wait_until(lambda: len(sender.ids) >= len(expected) and not any(spool_dir.iterdir()))
    assert_each_delivered_once(sender, expected)


def test_flush_returns_once_everything_queued_is_delivered(make_shipper, sender):
    """flush() returns True only after every record queued before it was sent, however
    slowly the broker takes them."""
    sender.delay = 0.2
    make_shipper().start()
    records = [usage_record() for _ in range(30)]
    for record in records:
        pipeline.record(record)

    assert pipeline.flush(WAIT_SECONDS) is True

    assert_each_delivered_once(sender, [r.id for r in records])


def test_shutdown_delivers_what_was_queued_and_stops_the_shipper(make_shipper, sender):
    """shutdown() delivers the queued records, stops the thread and forgets it."""
    shipper = make_shipper()
    shipper.start()
    records = [usage_record() for _ in range(30)]
    for record in records:
        pipeline.record(record)

    pipeline.shutdown(WAIT_SECONDS)

    assert not shipper.is_alive()
    assert pipeline._shipper is None
    assert_each_delivered_once(sender, [r.id for r in records])


def test_shutdown_with_the_broker_down_leaves_every_record_on_disk(make_shipper, sender, spool_dir):
    """Stopping while the broker is down loses nothing: what was queued is on disk, and
    the next process's drain delivers each record once."""
    sender.down = True
    shipper = make_shipper()
    shipper.start()
    records = [usage_record() for _ in range(BATCH_SIZE + 30)]
    for record in records:
        pipeline.record(record)

    pipeline.shutdown(WAIT_SECONDS)

    assert not shipper.is_alive()
    assert sender.batches == []
    recovered = Sender()
    assert Spool(spool_dir).drain(recovered) is True
    assert_each_delivered_once(recovered, [r.id for r in records])


# --- Faults: what cannot be delivered never blocks what can --------------------------


class Refusing(Sender):
    """A broker that answers, but refuses any batch holding one of `refused` ids (with
    their bodies, or at all when `even_without_bodies`)."""

    def __init__(self, refused: set[str], even_without_bodies: bool = False):
        super().__init__()
        self.refused_ids = refused
        self.even_without_bodies = even_without_bodies

    def __call__(self, payloads):
        for payload in payloads:
            if payload["id"] in self.refused_ids and (
                self.even_without_bodies or not payload.get("bodies_dropped")
            ):
                raise ValueError("message too large")
        super().__call__(payloads)


def heavy_payloads(count: int, size: int) -> list[dict]:
    """Payloads whose bodies weigh about `size` bytes each in the message."""
    body = os.urandom(size * 3 // 4)  # incompressible; base64 makes 4/3 of the compressed size
    return [
        record_to_payload(usage_record(request_body=body, request_size=len(body))) for _ in range(count)
    ]


def test_batches_are_capped_by_bytes_as_well_as_count():
    heavy = heavy_payloads(12, BATCH_MAX_BYTES // 5)

    sent = list(batches(heavy))

    assert [p["id"] for batch in sent for p in batch] == [p["id"] for p in heavy]
    assert all(sum(map(payload_bytes, batch)) <= BATCH_MAX_BYTES for batch in sent)
    assert len(sent) == 3  # four of a fifth of the cap each, not one batch of twelve


def test_a_payload_heavier_than_the_cap_travels_alone():
    light, (heavy,) = payloads(3), heavy_payloads(1, BATCH_MAX_BYTES + 1)

    sent = list(batches([*light[:2], heavy, light[2]]))

    assert [len(batch) for batch in sent] == [2, 1, 1]
    assert sent[1] == [heavy]


@pytest.fixture
def refusing(monkeypatch):
    def install(sender):
        monkeypatch.setattr(pipeline, "deliver", sender)
        return sender

    return install


def test_a_refused_record_is_isolated_and_lands_without_its_bodies(spool_dir, refusing):
    batch = payloads(10)
    bad = batch[6]["id"]
    sender = refusing(Refusing({bad}))
    shipper = pipeline.Shipper(Spool(spool_dir))

    shipper.send(batch)

    assert_each_delivered_once(sender, [p["id"] for p in batch])
    delivered = {p["id"]: p for p in sender.payloads}
    assert (delivered[bad]["bodies_dropped"], delivered[bad]["request_body"]) == (True, "")
    assert delivered[bad]["usage"] == batch[6]["usage"]  # its usage row still lands
    assert not any(p.get("bodies_dropped") for i, p in delivered.items() if i != bad)
    assert spool_dir.exists() is False  # nothing spooled, nothing dead


def test_a_record_refused_even_without_bodies_becomes_a_dead_letter(spool_dir, refusing):
    batch = payloads(5)
    bad = batch[2]["id"]
    sender = refusing(Refusing({bad}, even_without_bodies=True))
    shipper = pipeline.Shipper(Spool(spool_dir))

    shipper.send(batch)

    assert_each_delivered_once(sender, [p["id"] for p in batch if p["id"] != bad])
    (dead_file,) = spool_dir.glob("dead-*.jsonl")
    (entry,) = [orjson.loads(line) for line in dead_file.read_bytes().splitlines()]
    assert orjson.loads(entry["line"])["id"] == bad
    assert "message too large" in entry["reason"]


def test_a_spool_drains_past_a_line_that_is_no_record(spool_dir):
    spool = Spool(spool_dir)
    good = payloads(3)
    spool.append(good[:2])
    with open(spool.path, "ab") as spool_file:
        spool_file.write(b'{"id": "cut in the mid\n')  # a write cut by a crash
    spool.append(good[2:])
    sender = Sender()

    assert spool.drain(sender) is True

    assert sender.payloads == good
    (dead_file,) = spool_dir.glob("dead-*.jsonl")
    assert orjson.loads(dead_file.read_bytes())["line"] == '{"id": "cut in the mid'
    assert not spool.has_pending()


def test_a_live_processs_spool_file_is_left_to_it_until_stale(spool_dir):
    """Another live process may be between opening its spool file and writing to it:
    taking the file then would lose that write. Only a file left untouched for
    STALE_SECONDS (a dead owner whose pid was reused) is taken."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        spool_dir.mkdir(parents=True)
        theirs = spool_dir / f"usage-{holder.pid}-{time.time_ns()}.jsonl"
        theirs.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in payloads(2)))
        spool = Spool(spool_dir)
        sender = Sender()

        assert not spool.has_pending()
        assert spool.drain(sender) is True
        assert sender.batches == [] and theirs.exists()

        stale = time.time() - STALE_SECONDS - 1
        os.utime(theirs, (stale, stale))
        assert spool.drain(sender) is True
        assert len(sender.ids) == 2 and not theirs.exists()
    finally:
        holder.kill()
        holder.wait()


def test_with_the_disk_refusing_too_records_are_held_and_delivered_later(
    make_shipper, sender, fresh_queue, monkeypatch
):
    """Broker down and spool unwritable (a full disk): the shipper holds the records in
    memory, keeps running, and delivers them once the broker answers."""
    shipper = make_shipper()

    def full_disk(payloads):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shipper.spool, "append", full_disk)
    sender.down = True
    shipper.start()
    records = [usage_record() for _ in range(5)]
    for record in records:
        pipeline.record(record)
    assert pipeline.flush(WAIT_SECONDS)
    assert len(shipper.held) == 5 and shipper.is_alive()

    sender.down = False
    assert wait_until(lambda: len(sender.ids) == 5, timeout=3 * pipeline.RETRY_SECONDS + 5)
    assert_each_delivered_once(sender, [r.id for r in records])
    assert shipper.held == []


def test_a_record_that_cannot_be_serialised_is_a_dead_letter_and_the_rest_go(
    make_shipper, sender, spool_dir
):
    shipper = make_shipper()
    shipper.start()
    # (Bodies that are not bytes are only left out: usage.redaction cannot read them.)
    broken = usage_record(usage=None)
    fine = [usage_record(), usage_record()]

    for record in (fine[0], broken, fine[1]):
        pipeline.record(record)
    assert pipeline.flush(WAIT_SECONDS)

    assert_each_delivered_once(sender, [r.id for r in fine])
    (dead_file,) = spool_dir.glob("dead-*.jsonl")
    entry = orjson.loads(dead_file.read_bytes())
    assert broken.id in entry["line"] and entry["reason"].startswith("not serialisable")


def test_the_shipper_outlives_an_unexpected_failure(make_shipper, sender, monkeypatch):
    shipper = make_shipper()
    real_batches = batches
    failures = iter([RuntimeError("a bug")])

    def batches_failing_once(payloads):
        for failure in failures:
            raise failure
        return real_batches(payloads)

    monkeypatch.setattr(pipeline, "batches", batches_failing_once)
    shipper.start()
    pipeline.record(usage_record())
    assert pipeline.flush(WAIT_SECONDS)
    assert shipper.is_alive()

    later = usage_record()
    pipeline.record(later)
    assert pipeline.flush(WAIT_SECONDS)
    assert later.id in sender.ids


def test_record_starts_a_new_shipper_when_the_last_one_died(fresh_queue, sender, spool_dir, settings):
    settings.USAGE_SPOOL_DIR = spool_dir
    dead = pipeline.Shipper(Spool(spool_dir))  # never started: not alive
    pipeline._shipper = dead

    record = usage_record()
    pipeline.record(record)

    try:
        assert pipeline._shipper is not dead and pipeline._shipper.is_alive()
        assert pipeline.flush(WAIT_SECONDS)
        assert sender.ids == [record.id]
    finally:
        pipeline.shutdown(WAIT_SECONDS)
