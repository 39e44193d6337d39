"""Every provider fixture, metered as the proxy meters it and priced, gives EXPECTED.json."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from providers.registry import spec_for
from usage.pricing import cost_compute

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"]
AT = datetime(2026, 11, 22, tzinfo=UTC)

_PATHS = {
    "message": "/v1/messages",
    "stream": "/v1/messages",
    "chat": "/v1/chat/completions",
    "chat_stream": "/v1/chat/completions",
    "responses": "/v1/responses",
    "responses_stream": "/v1/responses",
}
PRICED = {name: spec for name, spec in EXPECTED.items() if spec.get("kind") in _PATHS}


@pytest.mark.parametrize("name", sorted(PRICED))
def test_the_fixture_yields_its_expected_usage_and_cost(name):
    spec = PRICED[name]
    meter = spec_for(spec["provider"]).meter_for(_PATHS[spec["kind"]])
    raw = (FIXTURES / name).read_bytes()
    if name.endswith(".sse"):
        meter.feed(raw)
        meter.close()
    else:
        meter.feed_body(raw)
    usage = meter.usage

    assert usage.model == spec["model"]
    assert usage.output_tokens == spec["output_tokens"]
    if spec["provider"] == "openai":
        # OpenAI's prompt tokens include the cached ones; ours are split.
        assert usage.input_tokens + usage.cache_read_tokens == spec["input_tokens"]
        assert usage.cache_read_tokens == spec["cached_input_tokens"]
        assert usage.reasoning_tokens == spec["reasoning_tokens"]
    else:
        assert usage.input_tokens == spec["input_tokens"]
        assert usage.cache_write_5m_tokens == spec["cache_creation_5m_tokens"]
        assert usage.cache_write_1h_tokens == spec["cache_creation_1h_tokens"]
        assert usage.cache_read_tokens == spec["cache_read_tokens"]
        assert usage.web_search_requests == spec["web_search_requests"]
    cost = cost_compute(model=usage.model, usage=usage, at=AT)
    assert cost == Decimal(spec["cost_usd"]) * 100


def test_every_priced_fixture_is_covered():
    assert len(PRICED) == 12
