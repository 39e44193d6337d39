"""usage.tasks.usage_log_record_batch: the worker's end of the pipeline, run for real.

Payloads are made as the shipper makes them (`record_to_payload`) and pass through JSON
as the broker carries them; the task body runs through Celery's `apply`.
"""

import json
import logging
import uuid
import zlib
from datetime import UTC, datetime
from decimal import Decimal


from proxy.services import proxy_endpoint_delete
from tests.factories import (
    MESSAGES_REQUEST,
    MESSAGES_RESPONSE,
    TOKEN_USAGE_COST_CENTS,
    usage_record,
)
from usage.models import UsageDaily, UsageLog, UsageLogBody
from usage.records import record_to_payload
from usage.selectors.bodies import usage_log_bodies
from usage.tasks import usage_log_record_batch


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
    assert zlib.decompress(bytes(body.request_body)) == MESSAGES_REQUEST
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
