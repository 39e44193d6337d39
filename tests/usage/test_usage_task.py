"""usage.tasks.usage_log_record_batch: the worker's end of the pipeline, run for real.

Payloads are made as the shipper makes them (`record_to_payload`) and pass through JSON
as the broker carries them; the task body runs through Celery's `apply`.
"""

import io
import json
import logging
import uuid
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from proxy.services import proxy_endpoint_delete
from tests.factories import (
    MESSAGES_REQUEST,
    MESSAGES_RESPONSE,
    TOKEN_USAGE_COST_CENTS,
    stored_request,
    usage_record,
)
from usage.dead_letters import dead_letter_batch, dead_letter_count
from usage.models import UsageDaily, UsageLog, UsageLogBody
from usage.records import record_to_payload
from usage.selectors.bodies import usage_log_bodies
from usage.tasks import MAX_RETRIES, usage_log_record_batch


def run_task(records) -> int:
    """Run the task on these records as a worker would receive them; its return value."""
    payloads = json.loads(json.dumps([record_to_payload(r) for r in records]))
    return usage_log_record_batch.apply(args=[payloads], throw=True).get()


def test_the_task_writes_the_log_with_the_records_values(org, endpoint):
    """Every value the proxy recorded arrives in the row: who, where, tokens, the cost
    (a Decimal from the price table), timing, outcome and the bodies, byte for byte."""
    record = usage_record(endpoint=endpoint)

    assert run_task([record]) == 1

    log = UsageLog.objects.select_related("body").get(id=record.id)
    assert (log.organization_id, log.endpoint_id, log.endpoint_slug) == (org.id, endpoint.id, "acme-app")
    assert (log.provider, log.path, log.status_code, log.outcome) == ("anthropic", "/v1/messages", 200, "ok")
    assert (log.model, log.request_model) == ("claude-sonnet-4-6", "claude-sonnet-4-6")
    assert log.stop_reason == "end_turn"
    assert (
        log.input_tokens,
        log.output_tokens,
        log.cache_write_5m_tokens,
        log.cache_write_tokens,
        log.cache_read_tokens,
    ) == (1200, 300, 500, 500, 4000)
    assert isinstance(log.cost_cents, Decimal)
    assert log.cost_cents == Decimal(TOKEN_USAGE_COST_CENTS)
    assert not any((log.usage_missing, log.unpriced, log.incomplete, log.streamed))
    assert log.started_at == datetime.fromtimestamp(record.started_at, tz=UTC)
    assert (log.duration_ms, log.ttfb_ms) == (1840, 610)
    assert (log.upstream_request_id, log.user_agent, log.key_hint) == (
        record.upstream_request_id,
        record.user_agent,
        record.key_hint,
    )

    body = log.body
    assert stored_request(log) == MESSAGES_REQUEST
    assert zlib.decompress(bytes(body.response_body)) == MESSAGES_RESPONSE
    assert (body.request_size, body.response_size) == (len(MESSAGES_REQUEST), len(MESSAGES_RESPONSE))
    assert body.response_content_type == "application/json"
    shown = usage_log_bodies(log)
    assert shown.request_body == json.loads(MESSAGES_REQUEST)
    assert shown.response_body == json.loads(MESSAGES_RESPONSE)


def test_the_task_returns_how_many_logs_it_wrote(org, endpoint):
    """The return value is the number of new logs, and that many rows exist."""
    records = [usage_record(endpoint=endpoint) for _ in range(3)]

    assert run_task(records) == 3

    assert set(UsageLog.objects.values_list("id", flat=True)) == {uuid.UUID(r.id) for r in records}
    assert UsageLogBody.objects.count() == 3


def test_delivering_the_same_batch_twice_writes_each_log_once(org, endpoint):
    """A batch delivered again (a retried task, a spool drained twice) writes nothing and
    adds nothing to the daily totals; the second run reports 0."""
    records = [usage_record(endpoint=endpoint) for _ in range(3)]

    assert run_task(records) == 3
    assert run_task(records) == 0

    assert UsageLog.objects.count() == 3
    daily = UsageDaily.objects.get(organization=org)
    cost = 3 * Decimal(TOKEN_USAGE_COST_CENTS)
    assert (daily.calls, daily.input_tokens, daily.cost_cents) == (3, 3600, cost)


def test_a_batch_partly_written_before_writes_only_the_new_records(org, endpoint):
    """Records already written are skipped, a record repeated within the batch counts
    once, and the rest are written."""
    written = usage_record(endpoint=endpoint)
    new = usage_record(endpoint=endpoint)
    assert run_task([written]) == 1

    assert run_task([written, new, new]) == 1

    ids = set(UsageLog.objects.values_list("id", flat=True))
    assert ids == {uuid.UUID(written.id), uuid.UUID(new.id)}
    assert UsageDaily.objects.get(organization=org).calls == 2


def test_a_call_to_an_endpoint_deleted_since_is_logged_against_its_tombstone(org, endpoint):
    """An endpoint deleted between the call and the write keeps its calls: the log points
    at the tombstone, with its slug."""
    record = usage_record(endpoint=endpoint)
    proxy_endpoint_delete(endpoint=endpoint)

    assert run_task([record]) == 1

    log = UsageLog.objects.get(id=record.id)
    assert (log.organization_id, log.endpoint_id, log.endpoint_slug) == (org.id, endpoint.id, "acme-app")


def test_a_call_to_an_endpoint_that_no_longer_exists_is_logged_without_it(org):
    """An endpoint id with no row (never written, or removed) leaves the log without an
    endpoint but in its organization, under the slug the call used."""
    record = usage_record(
        organization_id=str(org.id), endpoint_id=str(uuid.uuid4()), endpoint_slug="vanished"
    )

    assert run_task([record]) == 1

    log = UsageLog.objects.get(id=record.id)
    assert (log.organization_id, log.endpoint_id, log.endpoint_slug) == (org.id, None, "vanished")
    assert UsageDaily.objects.get(organization=org).endpoint_slug == "vanished"


def test_a_call_of_an_organization_deleted_since_is_dropped_with_a_warning(org, endpoint, caplog):
    """A record whose organization is gone is not written (nor counted) and is logged;
    the rest of its batch is written."""
    orphan = usage_record(organization_id=str(uuid.uuid4()), endpoint_id=str(endpoint.id))
    kept = usage_record(endpoint=endpoint)

    with caplog.at_level(logging.WARNING, logger="codecosts.usage"):
        assert run_task([orphan, kept]) == 1

    assert list(UsageLog.objects.values_list("id", flat=True)) == [uuid.UUID(kept.id)]
    warning = f"usage record {orphan.id} dropped: organization {orphan.organization_id} is gone"
    assert warning in caplog.text


def test_a_batch_whose_every_organization_is_gone_writes_nothing_and_is_no_dead_letter(endpoint, caplog):
    """A batch left empty once its orphans are dropped ends there (it once reached the
    session lookup with no calls, failed, and was kept as a dead letter)."""
    orphans = [usage_record(organization_id=str(uuid.uuid4()), endpoint_id=str(endpoint.id)) for _ in range(2)]

    with caplog.at_level(logging.WARNING, logger="codecosts.usage"):
        assert run_task(orphans) == 0

    assert not UsageLog.objects.exists()
    assert "refused" not in caplog.text
    assert caplog.text.count("dropped: organization") == 2


def as_delivered(records) -> list[dict]:
    return json.loads(json.dumps([record_to_payload(r) for r in records]))


def dead_entries(store) -> list[dict]:
    """The dead letters kept (in Redis when configured, else in the spool directory)."""
    if settings.REDIS_URL:
        raw = redis.Redis.from_url(settings.REDIS_URL).lrange(store.DEAD_LETTER_KEY, 0, -1)
    else:
        raw = [line for path in Path(settings.USAGE_SPOOL_DIR).glob("dead-*.jsonl") for line in path.read_bytes().splitlines()]
    return [json.loads(line) for line in raw]


@pytest.mark.parametrize(("field", "value"), [("outcome", "exploded"), ("provider", "mistral")])
def test_a_record_the_writer_refuses_is_isolated_and_kept_while_the_rest_land(
    org, endpoint, dead_letters, field, value
):
    """One record naming an outcome or provider the model does not know (asserted at the
    boundary) neither fails its batch nor disappears: the others are written, it is a
    dead letter with the reason."""
    payloads = as_delivered([usage_record(endpoint=endpoint) for _ in range(5)])
    payloads[3][field] = value

    written = usage_log_record_batch.apply(args=[payloads], throw=True).get()

    assert written == 4
    assert set(map(str, UsageLog.objects.values_list("id", flat=True))) == {
        p["id"] for i, p in enumerate(payloads) if i != 3
    }
    (entry,) = dead_entries(dead_letters)
    assert json.loads(entry["line"])["id"] == payloads[3]["id"]
    assert value in entry["reason"]


def test_a_batch_still_failing_after_every_retry_becomes_dead_letters(org, endpoint, dead_letters):
    """With the database unreachable through MAX_RETRIES retries, the batch is kept as
    dead letters, never dropped (run eagerly: Celery's apply() runs each retry at once,
    when it does not re-raise)."""
    payloads = as_delivered([usage_record(endpoint=endpoint) for _ in range(3)])
    conf = usage_log_record_batch.app.conf
    propagates, conf.task_eager_propagates = conf.task_eager_propagates, False

    try:
        with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
            result = usage_log_record_batch.apply(args=[payloads])
    finally:
        conf.task_eager_propagates = propagates

    assert result.get() == 0
    assert [json.loads(e["line"])["id"] for e in dead_entries(dead_letters)] == [p["id"] for p in payloads]
    assert f"after {MAX_RETRIES} retries" in dead_entries(dead_letters)[0]["reason"]
    assert not UsageLog.objects.exists()


def test_usage_redrive_writes_the_dead_letters_and_empties_the_store(org, endpoint, dead_letters):
    payloads = as_delivered([usage_record(endpoint=endpoint) for _ in range(3)])
    dead_letter_batch(payloads, "database unreachable after 100 retries")
    out = io.StringIO()

    call_command("usage_redrive", stdout=out)

    assert out.getvalue().splitlines()[-1] == "3 replayed; no dead letter left."
    assert UsageLog.objects.count() == 3
    assert dead_entries(dead_letters) == []
    assert dead_letter_count() == 0


def test_usage_redrive_keeps_what_fails_again_and_says_so(org, endpoint, dead_letters):
    good, bad = as_delivered([usage_record(endpoint=endpoint) for _ in range(2)])
    bad["outcome"] = "exploded"
    dead_letter_batch([good, bad], "refused")

    with pytest.raises(CommandError, match="1 replayed; 1 failed again and are still kept."):
        call_command("usage_redrive", stdout=io.StringIO())

    assert list(map(str, UsageLog.objects.values_list("id", flat=True))) == [good["id"]]
    assert [json.loads(e["line"])["id"] for e in dead_entries(dead_letters)] == [bad["id"]]
