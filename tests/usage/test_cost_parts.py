"""A call's cost part by part (issue 12): kept on the log, counted per model in the daily
totals and the summary, shown by the detail API and page, rebuilt by recompute_costs."""

import uuid
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from providers.anthropic import meter as anthropic_module
from providers.anthropic.meter import AnthropicMeter
from tests.providers.parsing import json_parses
from tests.usage.test_iteration_costs import AT, FIXTURES, logged
from usage.models import UsageDaily, UsageLog, UsageLogBody

pytestmark = pytest.mark.django_db

DAY = AT.date().isoformat()


def test_an_advisor_call_keeps_its_parts_and_is_multi_part(endpoint):
    log = logged(endpoint, "anthropic_advisor", "sse")

    assert log.multi_part is True
    assert [(p["part"], p["model"], p["cost_cents"]) for p in log.cost_parts] == [
        ("message", "claude-sonnet-4-6", "2.235"),
        ("advisor_message", "claude-opus-4-8", "26.5"),
        ("message", "claude-sonnet-4-6", "2.25"),
        ("server_tools", "claude-sonnet-4-6", "2"),
    ]
    # The columns stay the top level: the executor's tokens only.
    assert (log.input_tokens, log.output_tokens, log.cache_read_tokens) == (1500, 950, 62000)


def test_a_plain_call_is_one_part_and_not_multi_part(endpoint):
    log = logged(endpoint, "anthropic_refusal_midstream", "json")

    assert log.multi_part is False
    assert [(p["part"], p["cost_cents"]) for p in log.cost_parts] == [("message", "1")]


def test_the_daily_totals_count_the_advisor_under_its_own_model(endpoint):
    logged(endpoint, "anthropic_advisor", "json")

    rows = {row.model: row for row in UsageDaily.objects.all()}

    assert set(rows) == {"claude-sonnet-4-6", "claude-opus-4-8"}
    sonnet, opus = rows["claude-sonnet-4-6"], rows["claude-opus-4-8"]
    assert (sonnet.calls, sonnet.cost_cents, sonnet.input_tokens, sonnet.web_search_requests) == (
        1, Decimal("6.485"), 1500, 2
    )
    assert (opus.calls, opus.cost_cents, opus.input_tokens, opus.output_tokens) == (
        0, Decimal("26.5"), 45000, 1600
    )
    # Cache reads saved 62000 x ($3 - $0.30) per million = 16.74 cents, all the executor's.
    assert (sonnet.cache_savings_cents, opus.cache_savings_cents) == (Decimal("16.74"), 0)


def test_rebuilding_the_daily_totals_gives_the_same_split(endpoint):
    from usage.services.daily import usage_daily_rebuild

    logged(endpoint, "anthropic_fallback_chain", "sse")
    before = sorted(UsageDaily.objects.values_list("model", "calls", "cost_cents", "input_tokens"))

    usage_daily_rebuild()

    after = sorted(UsageDaily.objects.values_list("model", "calls", "cost_cents", "input_tokens"))
    assert after == before == [
        ("claude-fable-5", 0, Decimal("4"), 4000),
        ("claude-fable-5-1", 0, Decimal("4.6"), 4000),
        ("claude-opus-4-8", 1, Decimal("3.5"), 4000),
    ]


def test_an_unpriced_multi_part_call_adds_no_cost_to_any_model(endpoint):
    log = logged(endpoint, "anthropic_advisor_unpriced", "json")

    assert (log.cost_cents, log.unpriced) == (None, True)
    rows = {row.model: (row.cost_cents, row.unpriced_calls) for row in UsageDaily.objects.all()}
    assert rows == {"claude-sonnet-4-6": (0, 1), "claude-opus-9-9": (0, 0)}


@pytest.mark.parametrize(
    "params",
    [{"since": DAY, "until": DAY}, {"since": f"{DAY}T00:00:00Z", "until": f"{DAY}T23:00:00Z"}],
    ids=["whole-days", "from-the-logs"],
)
def test_the_summary_by_model_counts_the_advisor_under_its_own_model(api_client, endpoint, params):
    logged(endpoint, "anthropic_advisor", "json")

    body = api_client.get("/api/usage/summary", {"group_by": "model", **params}).json()

    items = {item["key"]: item for item in body["items"]}
    assert {key: (i["calls"], i["cost_cents"], i["input_tokens"]) for key, i in items.items()} == {
        "claude-opus-4-8": (0, "26.5", 45000),
        "claude-sonnet-4-6": (1, "6.485", 1500),
    }
    assert body["totals"]["cost_cents"] == "32.985"


def test_the_detail_api_shows_the_cost_per_part_and_per_model(api_client, endpoint):
    log = logged(endpoint, "anthropic_fallback", "sse")

    body = api_client.get(f"/api/usage-logs/{log.id}").json()

    assert body["cost_cents"] == "3.5"
    assert [(p["part"], p["model"], p["billed"], p["cost_cents"]) for p in body["cost_parts"]] == [
        ("declined", "claude-fable-5", False, "0"),
        ("fallback_message", "claude-opus-4-8", True, "3.5"),
    ]
    assert body["cost_parts"][0]["note"] == "declined (cyber) before any output: not billed"
    assert body["cost_by_model"] == {"claude-opus-4-8": "3.5"}
    assert body["cost_breakdown"]["input"] == "2" and body["cost_breakdown"]["output"] == "1.5"


def test_the_detail_page_shows_the_parts(owner_session_client, endpoint):
    log = logged(endpoint, "anthropic_compaction", "json")

    response = owner_session_client.get(f"/logs/{log.id}")

    html = response.content.decode()
    assert 'id="cost-parts"' in html
    assert "Compaction" in html and "Executor" in html
    assert [part.money.exact for part in response.context["cost_parts"]] == ["$1.33875", "$0.084"]


def _stale_log(endpoint, name: str) -> UsageLog:
    """A log written before parts were kept: top-level columns, a cost from them alone."""
    raw = (FIXTURES / f"{name}.sse").read_bytes()
    log = UsageLog.objects.create(
        id=uuid.uuid4(), organization_id=endpoint.organization_id, endpoint=endpoint,
        endpoint_slug=endpoint.slug, provider="anthropic", path="/v1/messages", streamed=True,
        model="claude-sonnet-4-6", request_model="claude-sonnet-4-6", status_code=200,
        input_tokens=1500, output_tokens=950, cache_write_tokens=2000, cache_write_5m_tokens=2000,
        cache_read_tokens=62000, web_search_requests=2, cost_cents=Decimal("6.485"), started_at=AT,
    )
    UsageLogBody.objects.create(
        log=log, request_body=zlib.compress(b'{"model": "claude-sonnet-4-6", "stream": true}'),
        response_body=zlib.compress(raw), response_size=len(raw),
        response_content_type="text/event-stream",
    )
    return log


def test_recompute_costs_reprices_an_old_log_from_its_stored_stream(endpoint):
    log = _stale_log(endpoint, "anthropic_advisor")

    call_command("recompute_costs", stdout=StringIO(), stderr=StringIO())

    log.refresh_from_db()
    assert log.cost_cents == Decimal("32.985")
    assert log.multi_part is True
    assert [p["model"] for p in log.cost_parts] == [
        "claude-sonnet-4-6", "claude-opus-4-8", "claude-sonnet-4-6", "claude-sonnet-4-6"
    ]
    assert dict(UsageDaily.objects.values_list("model", "cost_cents")) == {
        "claude-sonnet-4-6": Decimal("6.485"), "claude-opus-4-8": Decimal("26.5")
    }


def test_recompute_costs_uses_the_columns_when_the_body_was_cut_off(endpoint):
    log = _stale_log(endpoint, "anthropic_advisor")
    UsageLogBody.objects.filter(log=log).update(response_truncated=True)

    call_command("recompute_costs", stdout=StringIO(), stderr=StringIO())

    log.refresh_from_db()
    assert log.cost_cents == Decimal("6.485")
    assert log.multi_part is False


def test_the_meter_parses_only_the_events_that_carry_usage_or_a_fallback(monkeypatch):
    parsed = json_parses(monkeypatch, anthropic_module)
    meter = AnthropicMeter()
    meter.feed((FIXTURES / "anthropic_fallback_chain.sse").read_bytes())

    assert meter.usage.fallbacks and meter.usage.iterations
    assert [p[:30] for p in parsed] == [
        b'{"type":"message_start","messa',
        b'{"type":"content_block_start",',
        b'{"type":"content_block_start",',
        b'{"type":"message_delta","delta',
    ]


def test_a_log_without_parts_still_shows_one_part(api_client, endpoint):
    log = UsageLog.objects.create(
        id=uuid.uuid4(), organization_id=endpoint.organization_id, endpoint=endpoint,
        endpoint_slug=endpoint.slug, provider="anthropic", path="/v1/messages",
        model="claude-sonnet-4-6", status_code=200, input_tokens=2095, output_tokens=503,
        cost_cents=Decimal("1.383"), started_at=datetime(2026, 11, 1, tzinfo=UTC),
    )

    body = api_client.get(f"/api/usage-logs/{log.id}").json()

    assert [(p["part"], p["model"], p["cost_cents"]) for p in body["cost_parts"]] == [
        ("message", "claude-sonnet-4-6", "1.383")
    ]
    assert body["cost_by_model"] == {"claude-sonnet-4-6": "1.383"}


def test_recompute_costs_prices_an_old_fallback_log_at_the_models_that_ran(endpoint):
    # Written when the meter took the stream's message_start model (the asked Fable 5)
    # and priced the top level at it: 4000 x $10 + 600 x $50 = 70000 u$ = 7 cents.
    log = _stale_log(endpoint, "anthropic_fallback")
    UsageLog.objects.filter(pk=log.pk).update(
        model="claude-fable-5", input_tokens=4000, output_tokens=600, cache_write_tokens=0,
        cache_write_5m_tokens=0, cache_read_tokens=0, web_search_requests=0, cost_cents=Decimal("7"),
    )

    call_command("recompute_costs", stdout=StringIO(), stderr=StringIO())

    log.refresh_from_db()
    # Fable 5's hop declined (cyber) before output: free; Opus 4.8 served: 3.5 cents.
    assert log.cost_cents == Decimal("3.5")
    assert [(p["part"], p["model"], p["billed"]) for p in log.cost_parts] == [
        ("declined", "claude-fable-5", False), ("fallback_message", "claude-opus-4-8", True)
    ]


def test_the_dashboards_cost_by_model_counts_the_advisor_under_its_own_model(endpoint):
    from usage.reports.dashboard import cost_by_model
    from usage.reports.period import Period

    logged(endpoint, "anthropic_advisor", "json")

    rows = cost_by_model(organization=endpoint.organization, period=Period(AT.date(), AT.date()))

    assert [(row.label, row.cost.cents, row.calls, row.tokens) for row in rows] == [
        ("claude-opus-4-8", Decimal("26.5"), 0, 45000 + 1600),
        ("claude-sonnet-4-6", Decimal("6.485"), 1, 1500 + 950),
    ]
