"""Issue 12: every way the Messages API bills, from wire fixtures to the logged cost.

Each fixture of tests/fixtures/iterations is metered as the proxy meters it (the body and
the stream of the same response), priced, and logged; its EXPECTED.json entry holds the
hand arithmetic the logged cost_cents must equal.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from providers.registry import spec_for
from providers.tokens import TokenUsage
from tests.factories import usage_record
from usage.models import UsageLog
from usage.pricing import BILLED_REFUSAL_CATEGORIES, call_cost, cost_compute
from usage.records import record_from_payload, record_to_payload
from usage.services.logs import usage_log_record

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "iterations"
EXPECTED = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"]
AT = datetime(2026, 11, 22, 12, tzinfo=UTC)
CASES = [(name, kind) for name in sorted(EXPECTED) for kind in ("json", "sse")]


def _path(name: str, kind: str) -> str:
    if EXPECTED[name]["provider"] == "anthropic":
        return "/v1/messages"
    return "/v1/responses" if kind == "json" else "/v1/chat/completions"


def metered(name: str, kind: str) -> TokenUsage:
    meter = spec_for(EXPECTED[name]["provider"]).meter_for(_path(name, kind))
    raw = (FIXTURES / f"{name}.{kind}").read_bytes()
    if kind == "sse":
        meter.feed(raw)
        meter.close()
    else:
        meter.feed_body(raw)
    return meter.usage


def expected_cents(name: str, kind: str) -> Decimal | None:
    case = EXPECTED[name]
    usd = case["stream"]["cost_usd"] if kind == "sse" and "stream" in case else case["cost_usd"]
    return None if usd is None else Decimal(usd) * 100


def logged(endpoint, name: str, kind: str) -> UsageLog:
    case = EXPECTED[name]
    raw = (FIXTURES / f"{name}.{kind}").read_bytes()
    request = json.dumps({"model": case["model"], "max_tokens": 1024, "stream": kind == "sse"}).encode()
    record = usage_record(
        endpoint=endpoint,
        provider=case["provider"],
        path=_path(name, kind),
        started_at=AT.timestamp(),
        streamed=kind == "sse",
        request_model="",
        usage=metered(name, kind),
        request_body=request,
        request_size=len(request),
        response_body=raw,
        response_size=len(raw),
        response_content_type="text/event-stream" if kind == "sse" else "application/json",
    )
    return usage_log_record(record=record_from_payload(record_to_payload(record)))


@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}.{k}" for n, k in CASES])
def test_each_fixture_costs_its_hand_arithmetic(name, kind):
    usage = metered(name, kind)

    cost = call_cost(model=usage.model, usage=usage, at=AT, provider=EXPECTED[name]["provider"])

    assert cost.total == expected_cents(name, kind)
    if kind == "json" or "stream" not in EXPECTED[name]:
        parts = [
            [p.part.kind, p.part.model, None if p.cost is None else str(p.cost / 100)]
            for p in cost.parts
        ]
        assert [[k, m, c and Decimal(c)] for k, m, c in parts] == [
            [k, m, c and Decimal(c)] for k, m, c in EXPECTED[name]["parts"]
        ]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}.{k}" for n, k in CASES])
def test_each_fixture_is_logged_at_its_hand_arithmetic(endpoint, name, kind):
    log = logged(endpoint, name, kind)

    assert log.cost_cents == expected_cents(name, kind)
    assert log.unpriced is (expected_cents(name, kind) is None)
    assert [part["part"] for part in log.cost_parts] == [p[0] for p in EXPECTED[name]["parts"]]


def test_every_rule_has_a_body_and_a_stream():
    names = {path.stem for path in FIXTURES.iterdir() if path.suffix in (".json", ".sse")}
    assert names - {"EXPECTED"} == set(EXPECTED)
    for name in EXPECTED:
        assert (FIXTURES / f"{name}.json").exists() and (FIXTURES / f"{name}.sse").exists()


# --- The meter --------------------------------------------------------------------------


def test_the_meter_keeps_iterations_stop_details_fallbacks_and_the_requested_model():
    for kind in ("json", "sse"):
        usage = metered("anthropic_fallback_chain", kind)

        assert usage.model == "claude-opus-4-8"
        assert usage.request_model == "claude-fable-5-1"
        assert [(i["type"], i["model"], i["output_tokens"]) for i in usage.iterations] == [
            ("message", "claude-fable-5-1", 120),
            ("message", "claude-fable-5", 0),
            ("fallback_message", "claude-opus-4-8", 600),
        ]
        assert [f["category"] for f in usage.fallbacks] == ["general_harms", "bio"]
    refusal = metered("anthropic_refusal_midstream", "sse")
    assert (refusal.stop_reason, refusal.refusal_category) == ("refusal", "cyber")
    assert refusal.stop_details["explanation"] is None


def test_the_latest_message_delta_iterations_replace_the_earlier_ones():
    first = b'event: message_delta\ndata: {"type":"message_delta","delta":{},"usage":{"output_tokens":5,"iterations":[{"type":"message","input_tokens":9,"output_tokens":5}]}}\n\n'
    later = first.replace(b'"output_tokens":5', b'"output_tokens":7')
    meter = spec_for("anthropic").meter_for("/v1/messages")

    meter.feed(first + later)

    assert [i["output_tokens"] for i in meter.usage.iterations] == [7]


def test_iteration_cache_writes_are_split_by_ttl():
    meter = spec_for("anthropic").meter_for("/v1/messages")
    meter.feed_body(json.dumps({"model": "claude-sonnet-4-6", "usage": {
        "input_tokens": 1, "output_tokens": 1, "iterations": [{
            "type": "advisor_message", "model": "claude-opus-4-8", "input_tokens": 1,
            "output_tokens": 1, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        }]}}).encode())

    entry = meter.usage.iterations[0]
    assert (entry["cache_write_5m_tokens"], entry["cache_write_1h_tokens"]) == (100, 200)


# --- Rules the fixtures do not spell out ------------------------------------------------


def _message(**usage) -> TokenUsage:
    return TokenUsage(model="claude-opus-5", seen=True, final=True, **usage)


@pytest.mark.parametrize("category", ["cyber", "bio", "frontier_llm", "reasoning_extraction", "general_harms", None])
def test_a_refusal_before_output_is_billed_only_for_its_billed_categories(category):
    usage = _message(input_tokens=1000, stop_reason="refusal", stop_details={"category": category})

    cost = cost_compute(model="claude-opus-5", usage=usage, at=AT)

    # 1000 x $5 per million = $0.005 = 0.5 cents.
    assert cost == (Decimal("0.5") if category in BILLED_REFUSAL_CATEGORIES else 0)
    assert BILLED_REFUSAL_CATEGORIES == {"bio", "frontier_llm", "reasoning_extraction"}


def test_iterations_that_do_not_add_up_to_the_top_level_price_the_top_level_once():
    # The top level says 210k; its one message iteration says 120k: the top level is
    # priced as one part, at its own tier (Sonnet 4.5 over 200k: $6 in, $22.50 out).
    usage = TokenUsage(
        model="claude-sonnet-4-5", input_tokens=210_000, output_tokens=200, seen=True,
        iterations=[{"type": "message", "model": "claude-sonnet-4-5", "input_tokens": 120_000,
                     "output_tokens": 80, "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0,
                     "cache_read_tokens": 0}],
    )

    cost = call_cost(model="claude-sonnet-4-5", usage=usage, at=AT)

    # 210000 x 6 + 200 x 22.5 = 1264500 u$ = 126.45 cents.
    assert [p.part.kind for p in cost.parts] == ["message"]
    assert cost.total == Decimal("126.45")


def test_a_declined_attempt_runs_at_the_speed_the_request_set():
    usage = replace(
        metered("anthropic_fallback_chain", "json"),
        iterations=[
            {"type": "message", "model": "claude-opus-4-8", "input_tokens": 1000, "output_tokens": 10,
             "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_tokens": 0},
            {"type": "fallback_message", "model": "claude-opus-5", "input_tokens": 4000, "output_tokens": 600,
             "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_tokens": 0},
        ],
        fallbacks=[{"from": "claude-opus-4-8", "to": "claude-opus-5", "category": "cyber"}],
        model="claude-opus-5",
        request_model="claude-opus-4-8",
    )

    cost = call_cost(model="claude-opus-5", usage=usage, at=AT, request_speed="fast")

    # Declined Opus 4.8 in fast mode ($10, $50): 1000x10 + 10x50 = 10500 u$; served Opus 5
    # at standard speed: 4000x5 + 600x25 = 35000 u$; 45500 u$ = 4.55 cents.
    assert [p.cost for p in cost.parts] == [Decimal("1.05"), Decimal("3.5")]
    assert cost.total == Decimal("4.55")


def test_openai_cache_writes_before_gpt_5_6_cost_plain_input():
    # GPT-5.5 sells no cache write: a reported write costs its $5 input price.
    usage = TokenUsage(model="gpt-5.5", input_tokens=1000, cache_write_5m_tokens=1000, seen=True)

    assert cost_compute(model="gpt-5.5", usage=usage, at=AT, provider="openai") == Decimal("1")


def test_an_alias_of_the_calls_own_model_is_not_another_model():
    usage = metered("anthropic_compaction", "json")

    cost = call_cost(model=usage.model, usage=usage, at=AT, request_model="claude-sonnet-4-5")

    assert set(cost.by_model()) == {"claude-sonnet-4-5-20250929"}
