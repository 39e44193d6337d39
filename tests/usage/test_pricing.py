import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from usage.pricing import (
    cache_savings_compute,
    cost_breakdown,
    cost_compute,
    model_resolve,
    price_card_for,
    price_table,
)
from usage.pricing.table import PRICES_PATH, PriceTableError, table_parse
from usage.records import TokenUsage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"]
REFERENCE = json.loads((FIXTURES / "pricing.json").read_text(), parse_float=Decimal)["models"]

NOW = datetime(2026, 11, 22, tzinfo=UTC)
PRICED_FIXTURES = {
    name: case for name, case in EXPECTED.items() if case.get("model") and "cost_usd" in case
}


def usage_from_expected(case: dict) -> TokenUsage:
    if case["provider"] == "openai":
        # The meter splits OpenAI's prompt tokens (which include cached ones) like this.
        return TokenUsage(
            model=case["model"],
            input_tokens=case["input_tokens"] - case["cached_input_tokens"],
            cache_read_tokens=case["cached_input_tokens"],
            output_tokens=case["output_tokens"],
            reasoning_tokens=case.get("reasoning_tokens", 0),
        )
    return TokenUsage(
        model=case["model"],
        input_tokens=case["input_tokens"],
        output_tokens=case["output_tokens"],
        cache_write_5m_tokens=case["cache_creation_5m_tokens"],
        cache_write_1h_tokens=case["cache_creation_1h_tokens"],
        cache_read_tokens=case["cache_read_tokens"],
        reasoning_tokens=case.get("thinking_tokens", 0),
        web_search_requests=case.get("web_search_requests", 0),
        web_fetch_requests=case.get("web_fetch_requests", 0),
        inference_geo=case.get("inference_geo", ""),
    )


def cents(usd: str) -> Decimal:
    return Decimal(usd) * 100


@pytest.mark.parametrize("name", sorted(PRICED_FIXTURES))
def test_it_prices_every_fixture_exactly(name):
    case = PRICED_FIXTURES[name]

    cost = cost_compute(
        model=case["model"], usage=usage_from_expected(case), at=NOW, provider=case["provider"]
    )

    assert type(cost) is Decimal
    assert cost == cents(case["cost_usd"])


@pytest.mark.parametrize("name", sorted(PRICED_FIXTURES))
def test_the_breakdown_sums_to_the_cost(name):
    case = PRICED_FIXTURES[name]
    usage = usage_from_expected(case)

    parts = cost_breakdown(model=case["model"], usage=usage, at=NOW)

    assert set(parts) == {
        "input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
        "web_search", "web_fetch",
    }
    assert all(type(v) is Decimal for v in parts.values())
    assert sum(parts.values()) == cost_compute(model=case["model"], usage=usage, at=NOW)


def test_the_breakdown_shows_each_token_class_with_the_geo_multiplier():
    cache = cost_breakdown(
        model="claude-sonnet-5-5",
        usage=usage_from_expected(EXPECTED["anthropic_stream_cache.sse"]),
        at=NOW,
    )
    us = cost_breakdown(
        model="claude-opus-4-8",
        usage=usage_from_expected(EXPECTED["anthropic_nonstream_web_search_us.json"]),
        at=NOW,
    )

    assert cache == {
        "input": Decimal("0.01"),
        "output": Decimal("0.42"),
        "cache_write_5m": Decimal("0.25"),
        "cache_write_1h": Decimal("0.8"),
        "cache_read": Decimal("0.2"),
        "web_search": 0,
        "web_fetch": 0,
    }
    # 10,450 x $5/MTok x 1.1 and 820 x $25/MTok x 1.1; three searches at 1 cent, unmultiplied.
    assert us["input"] == Decimal("5.7475")
    assert us["output"] == Decimal("2.255")
    assert us["web_search"] == Decimal("3")


def test_sonnet_5_5_cache_reads_cost_the_launch_price_before_october_7():
    usage = usage_from_expected(EXPECTED["anthropic_stream_cache.sse"])

    def cost_at(*args):
        return cost_compute(model="claude-sonnet-5-5", usage=usage, at=datetime(*args, tzinfo=UTC))

    assert cost_at(2026, 10, 1) == cents("0.0188")
    assert cost_at(2026, 10, 6, 23, 59, 59) == cents("0.0188")
    assert cost_at(2026, 10, 7) == cents("0.0168")
    assert cost_at(2026, 11, 1) == cents("0.0168")


def test_a_naive_datetime_is_taken_as_utc():
    usage = usage_from_expected(EXPECTED["anthropic_stream_cache.sse"])

    assert cost_compute(
        model="claude-sonnet-5-5", usage=usage, at=datetime(2026, 10, 6, 23, 59)
    ) == cents("0.0188")


@pytest.mark.parametrize(
    ("usage", "usd"),
    [
        # Exactly 100,000 prompt tokens: base card ($0.10 in, $0.50 out).
        (TokenUsage(input_tokens=100_000, output_tokens=1000), "0.0105"),
        (TokenUsage(input_tokens=10_000, cache_read_tokens=90_000), "0.0019"),
        # One more, from any token class: the whole request at the long card ($0.50, $2.50).
        (TokenUsage(input_tokens=100_001, output_tokens=1000), "0.0525005"),
        (TokenUsage(input_tokens=10_000, cache_read_tokens=90_000, cache_write_5m_tokens=1),
         "0.009500625"),
    ],
    ids=["100000-base", "100000-with-cache-base", "100001-long", "100001-with-cache-long"],
)
def test_haiku_5_5_bills_prompts_over_100k_at_the_long_card(usage, usd):
    assert cost_compute(model="claude-haiku-5-5", usage=usage, at=NOW) == cents(usd)


def test_openai_long_context_counts_cached_prompt_tokens():
    base = TokenUsage(input_tokens=200_000, cache_read_tokens=72_000, output_tokens=1000)
    long = TokenUsage(input_tokens=200_001, cache_read_tokens=72_000, output_tokens=1000)

    # 200,000 x $2.50 + 72,000 x $0.25 + 1,000 x $15, per million.
    assert cost_compute(model="gpt-5.4", usage=base, at=NOW) == cents("0.533")
    # 200,001 x $5 + 72,000 x $0.50 + 1,000 x $22.50, per million.
    assert cost_compute(model="gpt-5.4", usage=long, at=NOW) == cents("1.058505")


def test_sonnet_4_5_long_context_applies_only_over_200k():
    at_limit = TokenUsage(input_tokens=150_000, cache_read_tokens=50_000, output_tokens=1000)
    over = TokenUsage(input_tokens=150_001, cache_read_tokens=50_000, output_tokens=1000)

    assert cost_compute(model="claude-sonnet-4-5", usage=at_limit, at=NOW) == cents("0.48")
    assert cost_compute(model="claude-sonnet-4-5", usage=over, at=NOW) == cents("0.952506")


def test_web_search_fees_are_not_geo_multiplied():
    usage = usage_from_expected(EXPECTED["anthropic_nonstream_web_search_us.json"])

    cost = cost_compute(model="claude-opus-4-8", usage=usage, at=NOW)

    assert cost == cents("0.110025")
    assert cost != cents("0.113025")


def test_the_geo_multiplier_is_not_applied_before_claude_4_6():
    usage = TokenUsage(input_tokens=1000, output_tokens=1000, inference_geo="us")

    assert cost_compute(model="claude-opus-4-5", usage=usage, at=NOW) == cents("0.03")
    assert cost_compute(model="claude-opus-4-6", usage=usage, at=NOW) == cents("0.033")


def test_fast_mode_uses_the_fast_card_where_there_is_one():
    fast = TokenUsage(input_tokens=1000, output_tokens=1000, speed="fast")

    assert cost_compute(model="claude-opus-5", usage=fast, at=NOW) == cents("0.06")
    # Opus 4.6 runs fast requests at standard speed and price.
    assert cost_compute(model="claude-opus-4-6", usage=fast, at=NOW) == cents("0.03")


def test_claude_3_haiku_cache_writes_come_from_the_table():
    usage = TokenUsage(cache_write_5m_tokens=1_000_000, cache_write_1h_tokens=1_000_000)

    # $0.30 + $0.50, not 1.25x and 2x of $0.25.
    assert cost_compute(model="claude-3-haiku-20240307", usage=usage, at=NOW) == cents("0.8")


@pytest.mark.parametrize(
    "model", ["claude-nonexistent-9", "gpt-4o-mini-search-preview", "", "ft:gpt-4o-mini:acme::x1"]
)
def test_an_unknown_model_is_unpriced_not_free(model):
    usage = TokenUsage(input_tokens=10, output_tokens=10)

    assert cost_compute(model=model, usage=usage, at=NOW) is None
    assert cost_breakdown(model=model, usage=usage, at=NOW) is None
    assert cache_savings_compute(model=model, usage=usage, at=NOW) is None


def test_tokens_or_fees_the_table_does_not_price_make_the_call_unpriced():
    # gpt-4o-2024-05-13 has no cached-input price; OpenAI has no web search fee in the table.
    cached = TokenUsage(input_tokens=10, cache_read_tokens=10)
    searched = TokenUsage(input_tokens=10, web_search_requests=1)

    assert cost_compute(model="gpt-4o-2024-05-13", usage=cached, at=NOW) is None
    assert cost_compute(model="gpt-4.1", usage=searched, at=NOW) is None


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-0", "claude-sonnet-4-0"),
        ("claude-4-sonnet-20250514", "claude-sonnet-4-0"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("claude-opus-4-7-20260416", "claude-opus-4-7"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-4.1-mini-2099-01-01", "gpt-4.1-mini"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("gpt-5.6-sol", "gpt-5.6"),
        ("anthropic/claude-opus-4-8", "claude-opus-4-8"),
        ("openai/gpt-4o", "gpt-4o"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("claude-opus-4-1@20250805", "claude-opus-4-1"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("Claude-Opus-4-8", "claude-opus-4-8"),
    ],
)
def test_dated_ids_aliases_and_prefixes_resolve(model, key):
    assert model_resolve(model).key == key


def test_gpt_4o_2024_05_13_keeps_its_own_price():
    usage = TokenUsage(input_tokens=1_000_000)

    assert cost_compute(model="gpt-4o-2024-05-13", usage=usage, at=NOW) == cents("5")
    assert cost_compute(model="gpt-4o-2024-08-06", usage=usage, at=NOW) == cents("2.5")


@pytest.mark.parametrize(
    ("model", "usage", "usd"),
    [
        # 20,000 reads x ($2 - $0.10) per million.
        ("claude-sonnet-5-5", usage_from_expected(EXPECTED["anthropic_stream_cache.sse"]), "0.038"),
        # 1,024 reads x ($2 - $0.50) per million.
        ("gpt-4.1-2025-04-14", usage_from_expected(EXPECTED["openai_chat_nonstream.json"]),
         "0.001536"),
        # 1,000 reads x ($5 - $0.50) per million x 1.1.
        ("claude-opus-4-8", TokenUsage(cache_read_tokens=1000, inference_geo="us"), "0.00495"),
        ("claude-opus-4-8", TokenUsage(input_tokens=1000), "0"),
    ],
    ids=["sonnet-5-5", "gpt-4.1", "opus-4-8-us", "no-cache-reads"],
)
def test_cache_savings_are_reads_at_input_price_minus_what_they_cost(model, usage, usd):
    saved = cache_savings_compute(model=model, usage=usage, at=NOW)

    assert type(saved) is Decimal
    assert saved == cents(usd)


def _reference_rates(provider: str, prices: dict) -> dict:
    if provider == "openai":
        prices = {
            "input": prices["input"],
            "output": prices["output"],
            "cache_write_5m": prices["cache_write_30m"],
            "cache_write_1h": prices["cache_write_12h"],
            "cache_read": prices["cached_input"],
        }
    classes = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
    return {k: prices[k] for k in classes}


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_the_table_matches_the_reference_for_every_model(key):
    ref = REFERENCE[key]

    for model_id in ref["model_ids"]:
        entry = model_resolve(model_id, ref["provider"])
        assert entry is not None, model_id
        assert entry.key == key
    entry = model_resolve(key)
    assert entry.provider == ref["provider"]
    assert entry.confidence == ref["confidence"]
    card = price_card_for(key, NOW)
    assert card.rates.usd_per_mtok() == _reference_rates(ref["provider"], ref["usd_per_mtok"])
    tiers = [(t.above_prompt_tokens, t.rates.usd_per_mtok()) for t in reversed(card.long_context)]
    assert tiers == [
        (
            t.get("above_prompt_tokens") or t.get("above_input_tokens"),
            _reference_rates(ref["provider"], t["usd_per_mtok"]),
        )
        for t in ref["long_context_tiers"]
    ]
    fast = ref.get("fast_mode_usd_per_mtok")
    expected_fast = fast and _reference_rates(ref["provider"], fast)
    assert (card.fast and card.fast.usd_per_mtok()) == expected_fast
    if ref["provider"] == "anthropic":
        assert card.inference_geo_us == ref["multipliers"]["inference_geo_us"]
        assert card.web_search_cents == ref["server_tools_usd_per_request"]["web_search"] * 100
        assert card.web_fetch_cents == ref["server_tools_usd_per_request"]["web_fetch"] * 100


def test_the_low_confidence_models_are_marked():
    low = {key for key, m in price_table().models.items() if m.confidence == "low"}

    assert low == {"claude-mythos-5-2", "claude-mythos-preview"}


def test_the_table_keeps_every_price_as_a_decimal_string():
    def prices(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in {"input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
                           "cached_input", "cache_write_30m", "cache_write_12h",
                           "inference_geo_us", "web_search", "web_fetch"}:
                    yield value
                else:
                    yield from prices(value)
        elif isinstance(node, list):
            for item in node:
                yield from prices(item)

    found = list(prices(json.loads(PRICES_PATH.read_text())["models"]))

    assert len(found) > 400
    assert all(value is None or isinstance(value, str) for value in found)


def test_a_float_price_is_refused():
    raw = {"models": {"m": {"provider": "openai", "cards": [{
        "effective_from": None, "input": 0.1, "cached_input": None, "output": "1",
        "cache_write_30m": None, "cache_write_12h": None,
    }]}}}

    with pytest.raises(PriceTableError, match="decimal strings"):
        table_parse(raw)


def test_embeddings_bill_input_tokens_only():
    usage = TokenUsage(model="text-embedding-3-small", input_tokens=250_000)
    # $0.02 per million input tokens.
    assert cost_compute(model="text-embedding-3-small", usage=usage, at=NOW) == Decimal("0.5")
