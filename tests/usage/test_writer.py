"""Local mode's usage writer (usage.writer), in this process against the test database:
the outbox the web process puts batches in, the writer that writes them, and what the
web process announces of the logs written. tests/test_local_writer.py runs it as the
process `codecosts proxy start` starts.
"""

import time
from decimal import Decimal

import orjson
import pytest

from budgets import services as budget_services
from budgets import state
from budgets.services import budget_create
from tests.factories import TOKEN_USAGE_COST_CENTS, usage_record
from usage import outbox as writer_outbox
from usage.models import UsageLog
from usage.outbox import Outbox
from usage.records import record_to_payload
from usage.signals import usage_logs_written
from usage.writer import Writer

pytestmark = pytest.mark.django_db


@pytest.fixture
def box(settings, tmp_path, monkeypatch):
    settings.USAGE_SPOOL_DIR = tmp_path / "spool"
    monkeypatch.setattr(writer_outbox, "ANNOUNCE_SECONDS", 0)
    return Outbox(tmp_path / "spool" / "outbox")


def payloads(endpoint, count: int, **fields) -> list[dict]:
    return [record_to_payload(usage_record(endpoint=endpoint, **fields)) for _ in range(count)]


def names(box: Outbox, pattern: str = "*") -> list[str]:
    return sorted(path.name for path in box.directory.glob(pattern))


def test_a_batch_put_in_the_outbox_appears_whole_and_is_written_by_the_writer(box, endpoint):
    batch = payloads(endpoint, 3)
    box.put(batch)
    (name,) = names(box, ".*") + names(box)
    assert name.startswith("batch-") and name.endswith(".jsonl")  # no temporary file left

    assert Writer(box).write_waiting() == 1

    logs = UsageLog.objects.filter(id__in=[p["id"] for p in batch])
    assert sorted(str(log.id) for log in logs) == sorted(p["id"] for p in batch)
    assert {log.cost_cents for log in logs} == {Decimal(TOKEN_USAGE_COST_CENTS)}
    assert names(box, "batch-*") == []
    # The notes have a directory of their own: looking for them never lists the batches.
    assert names(box, "written-*") == []
    (note,) = names(box, "written/written-*")
    assert note.endswith(".jsonl")


def test_batches_are_written_oldest_first_and_a_batch_sent_twice_once(box, endpoint):
    first, second = payloads(endpoint, 2), payloads(endpoint, 2)
    box.put(first)
    box.put(second)
    box.put(first)  # a batch delivered again after a lost answer
    assert len(box.batches()) == 3
    assert box.batches()[0].read_bytes().count(b"\n") == 2

    assert Writer(box).write_waiting() == 3

    assert UsageLog.objects.count() == 4
    assert box.batches() == []


def test_a_line_that_is_no_record_is_a_dead_letter_and_the_rest_of_its_batch_is_written(box, endpoint):
    batch = payloads(endpoint, 2)
    box.put(batch)
    (path,) = box.batches()
    path.write_bytes(path.read_bytes() + b"{not json\n")

    assert Writer(box).write_waiting() == 1

    assert UsageLog.objects.filter(id__in=[p["id"] for p in batch]).count() == 2
    kept = [orjson.loads(line) for path in box.directory.parent.glob("dead-*.jsonl")
            for line in path.read_bytes().splitlines()]
    assert [(entry["line"], entry["reason"]) for entry in kept] == [("{not json", "not a JSON line")]


def test_the_web_process_announces_the_logs_the_writer_wrote_with_what_follows_them(box, endpoint, monkeypatch):
    box.put(payloads(endpoint, 2, attribution={"x-codecosts-user": "alice"}))
    Writer(box).write_waiting()
    seen = []

    def receiver(sender, logs, **kwargs):
        # What is announced (the writer here also signals its own writes, as UsageLog rows).
        seen.extend((str(log.organization_id), str(log.endpoint_id), log.person, log.cost_cents)
                    for log in logs if isinstance(log, writer_outbox.WrittenLog))

    usage_logs_written.connect(receiver, sender=UsageLog)
    try:
        assert box.announce() == 2
        assert box.announce() == 0  # each once
        box.put(payloads(endpoint, 1))
        Writer(box).write_waiting()
        monkeypatch.setattr(writer_outbox, "ANNOUNCE_SECONDS", 0.5)
        assert box.announce() == 1
        box.put(payloads(endpoint, 1))
        Writer(box).write_waiting()
        assert box.announce() == 0  # at most every ANNOUNCE_SECONDS
        time.sleep(0.5)
        assert box.announce() == 1
    finally:
        usage_logs_written.disconnect(receiver, sender=UsageLog)
    cost = Decimal(TOKEN_USAGE_COST_CENTS)
    assert seen[:2] == [(str(endpoint.organization_id), str(endpoint.id), "alice", cost)] * 2
    assert len(seen) == 4
    assert names(box) == ["written"] and names(box, "written/*") == []


def test_a_hard_limit_crossed_by_what_the_writer_wrote_blocks_in_the_web_process(box, org, endpoint, settings):
    """Local mode keeps budget states in the web process: what the writer process wrote
    reaches them through the announcement alone."""
    settings.REDIS_URL = ""  # local mode: no shared state
    budget = budget_create(
        organization=org, name="Tight", scope="endpoint", endpoint=endpoint,
        amount_cents=Decimal("2"), period="month", hard_limit=True,
    )
    box.put(payloads(endpoint, 2))  # 2 x 1.1175 cents: over the limit
    Writer(box).write_waiting()
    # What the writer's own process learnt is not this one's: forget it here.
    state.replace_all([])
    budget_services._recent.clear()

    box.announce()

    held = state.known_for(str(org.id))[str(budget.id)]
    assert held.blocked
    assert Decimal(held.counted_cents) == 2 * Decimal(TOKEN_USAGE_COST_CENTS)


def test_a_batch_another_writer_took_meanwhile_is_skipped(box, endpoint, monkeypatch):
    """Two servers on one var/ run two writers on one outbox: each file is written once
    by whichever takes it (and again harmlessly if both do), and nothing fails."""
    batch = payloads(endpoint, 2)
    box.put(batch)
    taken = box.directory / "batch-00000000000000000000-1-0.jsonl"  # listed, then gone
    monkeypatch.setattr(box, "batches", lambda: [taken, *Outbox.batches(box)])

    assert Writer(box).write_waiting() == 1

    assert UsageLog.objects.filter(id__in=[p["id"] for p in batch]).count() == 2
