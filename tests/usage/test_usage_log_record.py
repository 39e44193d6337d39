"""usage_log_record: one log per exchange, the session it joins, session and daily totals."""

import json
import uuid
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from proxy.models import ProxyEndpoint
from tests.factories import stored_request, usage_record
from usage.models import Session, UsageDaily, UsageLog, UsageLogBody
from usage.records import (
    Compressed,
    TokenUsage,
    UsageRecord,
    body_compressed,
    body_raw,
    record_from_payload,
    record_to_payload,
)
from usage.services.logs import request_facts, usage_log_record, usage_log_record_many
from usage.services.sessions import session_end, session_start

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def call(
    endpoint: ProxyEndpoint,
    *,
    at: datetime | None = None,
    model: str = "claude-sonnet-4-6",
    tokens: tuple[int, int, int, int, int] = (1000, 100, 0, 0, 0),
    session_name: str = "",
    claude_code_session_id: str = "",
    messages: list | None = None,
    status_code: int = 200,
    outcome: str = "ok",
    seen: bool = True,
    duration_ms: int = 1000,
) -> UsageRecord:
    """The record the proxy would hand over for one call, bodies compressed as shipped."""
    input_tokens, output_tokens, cache_5m, cache_1h, cache_read = tokens
    usage = TokenUsage(
        model=model if seen else "",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_write_5m_tokens=cache_5m,
        cache_write_1h_tokens=cache_1h,
        cache_read_tokens=cache_read,
        seen=seen,
        final=seen,
    )
    request = {"model": model, "max_tokens": 100, "messages": messages or []}
    request_body = json.dumps(request).encode()
    raw = usage_record(
        endpoint=endpoint,
        started_at=(at or timezone.now() + timedelta(milliseconds=1)).timestamp(),
        duration_ms=duration_ms,
        status_code=status_code,
        outcome=outcome,
        request_model=model,
        usage=usage,
        claude_code_session_id=claude_code_session_id,
        session_name=session_name,
        request_body=request_body,
        request_size=len(request_body),
        response_body=b'{"type": "message"}',
        response_size=19,
    )
    return record_from_payload(record_to_payload(raw))


def write(record: UsageRecord) -> UsageLog:
    return usage_log_record(record=record)


@pytest.fixture
def staging(org):
    return ProxyEndpoint.objects.create(organization=org, name="Staging", slug="staging")


@pytest.fixture
def globex_endpoint(other_org):
    return ProxyEndpoint.objects.create(organization=other_org, name="Globex", slug="globex")


def later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


# --- idempotency --------------------------------------------------------------------


def test_the_same_record_twice_writes_one_log_and_counts_once(org, endpoint):
    record = call(endpoint, at=T0, session_name="Feature X", tokens=(1000, 100, 0, 0, 0))

    first = write(record)
    second = write(record_from_payload(record_to_payload(record)))

    assert str(second.pk) == str(first.pk)
    assert UsageLog.objects.filter(id=record.id).count() == 1
    assert UsageLogBody.objects.filter(log_id=record.id).count() == 1
    session = Session.objects.get(organization=org)
    assert (session.calls, session.input_tokens, session.cost_cents) == (1, 1000, Decimal("0.45"))
    daily = UsageDaily.objects.get(organization=org)
    assert (daily.calls, daily.input_tokens, daily.cost_cents) == (1, 1000, Decimal("0.45"))


def test_it_stores_the_compressed_bodies_as_they_came(endpoint):
    record = call(endpoint, messages=[{"role": "user", "content": "Hello"}])
    shipped = record.request_body

    log = write(record)

    assert isinstance(shipped, Compressed)
    assert bytes(log.body.request_body) == shipped  # stored as shipped: not compressed twice
    request = json.loads(stored_request(log))
    assert request["messages"] == [{"role": "user", "content": "Hello"}]
    assert zlib.decompress(log.body.response_body) == b'{"type": "message"}'


def test_a_record_written_without_the_broker_stores_the_same_bodies(endpoint):
    shipped = call(endpoint, messages=[{"role": "user", "content": "Hello"}])
    # The record as the proxy holds it: raw bytes, the response still in its chunks.
    raw = replace(
        shipped,
        id=str(uuid.uuid4()),
        request_body=body_raw(shipped.request_body),
        response_body=[b'{"type": ', b'"message"}'],
    )

    log = write(raw)

    assert stored_request(log) == body_raw(shipped.request_body)
    assert zlib.decompress(log.body.response_body) == b'{"type": "message"}'
    assert raw.response_body == [b'{"type": ', b'"message"}']  # the record is not rewritten


def test_what_the_worker_reads_from_the_request_body_is_returned_not_written_back(endpoint):
    record = call(endpoint, model="claude-sonnet-4-6", messages=[{"role": "user", "content": "Hi"}])
    record.request_model = ""
    record.request_body = body_compressed(
        json.dumps(
            {
                "model": "claude-opus-4-5",
                "metadata": {"user_id": json.dumps({"session_id": "cc-1"})},
                "messages": [{"role": "user", "content": "Name the session after me"}],
            }
        ).encode()
    )

    facts = request_facts(record)
    log = write(record)

    assert (facts.model, facts.claude_code_session_id, facts.first_prompt) == (
        "claude-opus-4-5",
        "cc-1",
        "Name the session after me",
    )
    assert (record.request_model, record.claude_code_session_id) == ("", "")
    assert (log.request_model, log.claude_code_session_id) == ("claude-opus-4-5", "cc-1")
    assert log.session.name == "Name the session after me"


# --- session precedence -------------------------------------------------------------


def test_a_header_session_wins_over_a_manual_one_and_claude_codes(org, endpoint):
    session_start(organization=org, name="Manual")

    log = write(call(endpoint, session_name="Feature X", claude_code_session_id="cc-1"))

    assert (log.session.name, log.session.source) == ("Feature X", "header")


def test_an_active_manual_session_wins_over_claude_codes(org, endpoint):
    manual = session_start(organization=org, name="Manual")

    log = write(call(endpoint, claude_code_session_id="cc-1"))

    assert log.session_id == manual.id
    assert not Session.objects.filter(source="claude_code").exists()


def test_without_header_or_manual_session_a_call_joins_claude_codes(org, endpoint):
    log = write(call(endpoint, claude_code_session_id="cc-1"))

    assert (log.session.source, log.session.external_id) == ("claude_code", "cc-1")
    assert str(log.session.endpoint_id) == str(endpoint.id)


def test_a_call_with_nothing_to_group_it_joins_no_session(endpoint):
    assert write(call(endpoint)).session is None


# --- manual session scope -----------------------------------------------------------


def test_an_endpoints_own_session_wins_over_an_organization_wide_one(org, endpoint, staging):
    everywhere = session_start(organization=org, name="Everywhere")
    production_only = session_start(organization=org, name="Production only", endpoint=endpoint)

    on_production = write(call(endpoint, at=later(1)))
    on_staging = write(call(staging, at=later(1)))

    assert on_production.session_id == production_only.id
    assert on_staging.session_id == everywhere.id


def test_an_ended_session_takes_no_new_calls(org, endpoint):
    session = session_start(organization=org, name="Manual")
    session_end(session=session)

    log = write(call(endpoint, at=later(1), claude_code_session_id="cc-1"))

    assert log.session.source == "claude_code"
    session.refresh_from_db()
    assert session.calls == 0


def test_a_call_made_before_the_end_joins_even_when_written_after_it(org, endpoint):
    session = session_start(organization=org, name="Manual")
    made_at = later(0.001)
    session_end(session=Session.objects.get(pk=session.pk))
    Session.objects.filter(pk=session.pk).update(ended_at=made_at + timedelta(seconds=1))

    log = write(call(endpoint, at=made_at))

    assert log.session_id == session.id


def test_a_call_started_before_the_session_began_does_not_join_it(org, endpoint):
    session = session_start(organization=org, name="Manual")

    log = write(call(endpoint, at=session.started_at - timedelta(seconds=1)))

    assert log.session is None


def test_a_manual_session_of_another_endpoint_does_not_take_the_call(org, endpoint, staging):
    session_start(organization=org, name="Staging only", endpoint=staging)

    assert write(call(endpoint, at=later(1))).session is None


# --- header and Claude Code sessions ------------------------------------------------


def test_a_header_session_is_created_on_first_use_and_reused(org, endpoint, staging):
    first = write(call(endpoint, at=T0, session_name="Feature X"))
    second = write(call(staging, at=T0 + timedelta(hours=3), session_name="Feature X"))
    other = write(call(endpoint, at=T0 + timedelta(hours=4), session_name="Feature Y"))

    assert first.session_id == second.session_id != other.session_id
    session = first.session
    session.refresh_from_db()
    assert (session.name, session.source, session.external_id) == (
        "Feature X",
        "header",
        "Feature X",
    )
    assert session.started_at == T0
    assert session.calls == 2
    assert Session.objects.filter(organization=org).count() == 2


def test_a_claude_code_session_is_named_after_the_first_user_prompt(endpoint):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>Be brief.</system-reminder>"},
                {"type": "text", "text": "  Fix the flaky login test  "},
            ],
        },
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "And the signup one"},
    ]

    log = write(call(endpoint, claude_code_session_id="cc-1", messages=messages))

    assert log.session.name == "Fix the flaky login test"


def test_a_claude_code_session_takes_a_string_prompt_and_shortens_a_long_one(endpoint):
    log = write(
        call(
            endpoint,
            claude_code_session_id="cc-1",
            messages=[{"role": "user", "content": "x" * 200}],
        )
    )

    assert log.session.name == "x" * 79 + "…"


def test_a_claude_code_session_without_a_prompt_is_named_after_its_time(endpoint):
    messages = [{"role": "user", "content": [{"type": "text", "text": "<command-name>/clear"}]}]

    log = write(call(endpoint, at=T0, claude_code_session_id="cc-1", messages=messages))

    assert log.session.name == "Claude Code 2026-03-01 09:00"


def test_later_calls_of_a_claude_code_session_keep_its_first_name(endpoint):
    first = write(
        call(
            endpoint, claude_code_session_id="cc-1", messages=[{"role": "user", "content": "First"}]
        )
    )
    second = write(
        call(
            endpoint,
            claude_code_session_id="cc-1",
            messages=[{"role": "user", "content": "Second"}],
        )
    )

    assert second.session_id == first.session_id
    assert Session.objects.get(pk=first.session_id).name == "First"


def test_two_organizations_never_share_a_header_session(endpoint, globex_endpoint):
    acme = write(call(endpoint, session_name="Feature X"))
    globex = write(call(globex_endpoint, session_name="Feature X"))

    assert acme.session_id != globex.session_id
    assert str(acme.session.organization_id) == str(endpoint.organization_id)
    assert str(globex.session.organization_id) == str(globex_endpoint.organization_id)


def test_two_organizations_never_share_a_claude_code_session(endpoint, globex_endpoint):
    acme = write(call(endpoint, claude_code_session_id="cc-same"))
    globex = write(call(globex_endpoint, claude_code_session_id="cc-same"))

    assert acme.session_id != globex.session_id
    assert Session.objects.get(pk=globex.session_id).calls == 1


def test_another_organizations_manual_session_never_takes_a_call(other_org, endpoint):
    session_start(organization=other_org, name="Globex work")

    assert write(call(endpoint, at=later(1))).session is None


# --- totals -------------------------------------------------------------------------


def test_a_sessions_totals_are_exact(org, endpoint):
    session = session_start(organization=org, name="Manual")
    write(call(endpoint, at=later(1), tokens=(1000, 100, 0, 0, 0), duration_ms=1200))
    write(call(endpoint, at=later(2), tokens=(0, 0, 1000, 1000, 10000), duration_ms=800))
    last = write(
        call(
            endpoint,
            at=later(3),
            model="claude-haiku-4-5",
            tokens=(3000, 300, 0, 0, 0),
            duration_ms=25,
        )
    )

    session.refresh_from_db()
    assert session.calls == 3
    assert (session.input_tokens, session.output_tokens) == (4000, 400)
    assert (session.cache_write_tokens, session.cache_read_tokens) == (2000, 10000)
    # 0.45 + (0.375 + 0.6 + 0.3) + 0.45
    assert session.cost_cents == Decimal("2.175")
    assert session.duration_ms == 2025
    assert session.last_call_at == last.started_at


def test_a_late_written_call_does_not_move_last_call_at_back(org, endpoint):
    session = session_start(organization=org, name="Manual")
    newer = write(call(endpoint, at=later(5)))
    write(call(endpoint, at=later(1)))

    session.refresh_from_db()
    assert session.last_call_at == newer.started_at
    assert session.calls == 2


def test_an_unknown_model_is_unpriced_with_a_null_cost(org, endpoint):
    log = write(call(endpoint, at=T0, model="mystery-model-9", session_name="S"))

    assert (log.cost_cents, log.unpriced, log.usage_missing) == (None, True, False)
    log.session.refresh_from_db()
    assert (log.session.calls, log.session.cost_cents) == (1, Decimal(0))
    daily = UsageDaily.objects.get(organization=org)
    assert (daily.calls, daily.unpriced_calls, daily.cost_cents) == (1, 1, Decimal(0))


def test_an_upstream_4xx_without_usage_costs_zero(org, endpoint):
    log = write(
        call(
            endpoint, at=T0, status_code=400, outcome="upstream_error", seen=False, tokens=(0,) * 5
        )
    )

    assert log.cost_cents == Decimal(0)
    assert (log.unpriced, log.usage_missing) == (False, False)
    daily = UsageDaily.objects.get(organization=org)
    assert (daily.calls, daily.error_calls) == (1, 1)


def test_a_success_without_any_usage_has_no_cost_and_says_so(endpoint):
    log = write(call(endpoint, at=T0, seen=False, tokens=(0,) * 5))

    assert (log.cost_cents, log.unpriced, log.usage_missing) == (None, False, True)


# --- batches ----------------------------------------------------------------------------


def test_a_batch_writes_each_log_once_and_sums_sessions_and_days(org, endpoint, staging, django_assert_max_num_queries):
    session = session_start(organization=org, name="Sprint", endpoint=None)
    already = call(endpoint, at=later(1))
    usage_log_record_many(records=[already])
    batch = [
        call(endpoint, at=later(2), tokens=(1000, 100, 0, 0, 0)),
        call(endpoint, at=later(3), tokens=(2000, 200, 0, 0, 0)),
        call(staging, at=later(4), tokens=(3000, 300, 0, 0, 0)),
        call(endpoint, at=later(5), session_name="Feature X"),
        already,  # delivered twice
    ]
    batch.append(batch[0])  # twice in the same batch

    # Per batch, session and day; not per call.
    with django_assert_max_num_queries(20):
        written = usage_log_record_many(records=batch)

    assert written == 4
    assert UsageLog.objects.filter(organization=org).count() == 5
    session.refresh_from_db()
    # The first call and the three of the batch without a header; not "Feature X".
    assert (session.calls, session.input_tokens, session.output_tokens) == (4, 7000, 700)
    assert Session.objects.get(organization=org, external_id="Feature X").calls == 1
    days = {row.endpoint_slug: row for row in UsageDaily.objects.filter(organization=org)}
    assert (days["acme-app"].calls, days["acme-app"].input_tokens) == (4, 5000)
    assert (days["staging"].calls, days["staging"].input_tokens) == (1, 3000)
    # $3/MTok input and $15/MTok output on Sonnet 4.6: 0.45 + 0.45 + 0.9 + 0.45 cents.
    assert days["acme-app"].cost_cents == Decimal("2.25")


def test_nul_characters_read_from_bodies_are_left_out_of_text_columns(endpoint):
    """PostgreSQL refuses NUL in text: a provider error message carrying one (JSON
    "\\u0000") must not cost the call its log."""
    record = call(endpoint, status_code=400, outcome="upstream_error", seen=False)
    record.usage.error_type = "invalid_request_error\x00"
    record.usage.error_message = "bad \x00byte"
    record.usage.stop_reason = "end\x00_turn"

    log = write(record)

    assert (log.error_type, log.error_message, log.stop_reason) == (
        "invalid_request_error",
        "bad byte",
        "end_turn",
    )
