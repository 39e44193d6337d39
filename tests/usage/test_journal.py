"""usage.journal: what a web process leaves on disk for every call, and its recovery."""

import os
import subprocess
import sys
import time
from decimal import Decimal

import orjson
import pytest

from providers.tokens import TokenUsage
from tests.factories import MODEL, usage_record
from tests.usage.test_pipeline import dead_pid
from usage import journal as journal_module
from usage.journal import Journal, recover
from usage.records import Outcome, record_from_payload, record_summary
from usage.services.logs import usage_log_record_many


def facts_of(record) -> dict:
    """What the proxy journals when it forwards a call (proxy.exchange.Exchange.facts)."""
    names = (
        "id", "organization_id", "endpoint_id", "endpoint_slug", "provider", "path", "started_at",
        "api_key_id", "user_agent", "key_hint", "claude_code_session_id", "session_name", "attribution",
        "request_size",
    )
    return {name: getattr(record, name) for name in names}


def journal_of(directory, pid: int, lines: list[dict], created_ns: int | None = None):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"journal-{pid}-{created_ns or time.time_ns()}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


@pytest.fixture
def directory(tmp_path):
    return tmp_path / "spool"


def collect(into: list):
    return into.extend


def test_a_finished_call_and_an_interrupted_one_are_recovered_once(directory):
    finished, interrupted = usage_record(), usage_record(streamed=True)
    path = journal_of(
        directory,
        dead_pid(),
        [
            {"s": facts_of(finished)},
            {"s": facts_of(interrupted)},
            {"f": record_summary(finished)},
        ],
    )
    with open(path, "ab") as cut:
        cut.write(b'{"s": {"id": "cut by the ki')  # the line the kill cut short
    kept: list[dict] = []

    assert recover(directory, collect(kept)) == 2
    assert recover(directory, collect(kept)) == 0  # exactly once

    by_id = {payload["id"]: record_from_payload(payload) for payload in kept}
    assert by_id.keys() == {finished.id, interrupted.id}
    done = by_id[finished.id]
    assert (done.outcome, done.status_code, done.usage.output_tokens) == (Outcome.OK, 200, 300)
    assert (done.bodies_dropped, done.request_body) == (True, b"")
    cut_off = by_id[interrupted.id]
    assert (cut_off.outcome, cut_off.status_code, cut_off.incomplete) == (Outcome.INTERRUPTED, None, True)
    assert (cut_off.started_at, cut_off.user_agent) == (interrupted.started_at, interrupted.user_agent)
    assert list(directory.iterdir()) == []


def test_a_live_processs_journal_is_left_to_it(directory):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.05)
        path = journal_of(directory, holder.pid, [{"s": facts_of(usage_record())}])
        kept: list[dict] = []

        assert recover(directory, collect(kept)) == 0
        assert kept == [] and path.exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_journal_whose_pid_was_reused_is_recovered(directory):
    """The pid is alive, but its process started after the file was made: its writer is gone."""
    a_day_ago = time.time_ns() - 86_400 * 10**9
    journal_of(directory, os.getppid(), [{"s": facts_of(usage_record())}], created_ns=a_day_ago)
    kept: list[dict] = []

    assert recover(directory, collect(kept)) == 1


def test_a_journal_whose_calls_are_all_out_is_deleted_once_rotated(directory, monkeypatch):
    monkeypatch.setattr(journal_module, "ROTATE_BYTES", 1)
    journal = Journal(directory)
    first, second = usage_record(), usage_record()

    journal.started(first.id, facts_of(first))
    journal.finished(first)
    (old,) = directory.glob("journal-*.jsonl")
    journal.started(second.id, facts_of(second))  # over ROTATE_BYTES: a new file

    assert len(list(directory.glob("journal-*.jsonl"))) == 2
    journal.out([first.id])
    assert not old.exists()
    assert len(list(directory.glob("journal-*.jsonl"))) == 1

    journal.out([second.id])
    journal.close()
    assert list(directory.glob("journal-*.jsonl")) == []


def test_at_a_clean_exit_a_journal_with_calls_still_in_it_stays_for_recovery(directory):
    journal = Journal(directory)
    call = usage_record()
    journal.started(call.id, facts_of(call))

    journal.close()

    (left,) = directory.glob("journal-*.jsonl")
    assert orjson.loads(left.read_bytes().splitlines()[0])["s"]["id"] == call.id


def test_recovered_calls_are_written_as_logs(directory, endpoint):
    finished = usage_record(endpoint=endpoint)
    interrupted = usage_record(endpoint=endpoint)
    interrupted.attribution = {"x-codecosts-user": "alice", "x-claude-code-agent-id": "a1"}
    journal_of(
        directory,
        dead_pid(),
        [{"s": facts_of(finished)}, {"s": facts_of(interrupted)}, {"f": record_summary(finished)}],
    )
    kept: list[dict] = []
    recover(directory, collect(kept))

    usage_log_record_many(records=[record_from_payload(payload) for payload in kept])

    from usage.models import UsageLog

    logs = {str(log.id): log for log in UsageLog.objects.select_related("body")}
    assert logs[finished.id].outcome == "ok" and logs[finished.id].body.dropped
    assert (logs[interrupted.id].outcome, logs[interrupted.id].cost_cents) == ("interrupted", None)
    assert logs[interrupted.id].usage_missing
    # Who made it is journalled with the call's start, so a kill keeps it too.
    assert (logs[interrupted.id].person, logs[interrupted.id].agent_id) == ("alice", "a1")


def test_a_stream_cut_by_the_kill_is_logged_with_the_usage_seen_before_it(directory, endpoint):
    call = usage_record(endpoint=endpoint, streamed=True)
    seen = TokenUsage(model=MODEL, input_tokens=2095, output_tokens=1, seen=True)
    # The lines the proxy's own journal writes (Journal.started, then Journal.seen) ...
    writer = Journal(directory / "live")
    writer.started(call.id, facts_of(call))
    writer.seen(call.id, seen)
    writer.close()
    (written,) = (directory / "live").glob("journal-*.jsonl")
    # ... left by a process that died before the stream ended.
    journal_of(directory, dead_pid(), [orjson.loads(line) for line in written.read_bytes().splitlines()])
    kept: list[dict] = []

    assert recover(directory, collect(kept)) == 1
    usage_log_record_many(records=[record_from_payload(payload) for payload in kept])

    from usage.models import UsageLog

    log = UsageLog.objects.get(id=call.id)
    assert (log.outcome, log.incomplete, log.model) == ("interrupted", True, MODEL)
    assert (log.input_tokens, log.output_tokens) == (2095, 1)
    # 2,095 input tokens at the model's $3 / MTok and 1 output token at $15 / MTok.
    assert log.cost_cents == Decimal("0.6285") + Decimal("0.0015")
