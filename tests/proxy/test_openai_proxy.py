"""The OpenAI proxy end to end: official SDK → uvicorn → fake upstream, logged by the worker."""

import json
from decimal import Decimal

import openai
import pytest

from accounts.models import Organization
from proxy.models import ProxyEndpoint
from tests.factories import stored_request
from tests.fake_upstream import FIXTURES
from tests.live import fresh_slug
from usage.pricing import cost_compute
from usage.records import TokenUsage

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROVIDER_KEY = "sk-proj-SECRET-openai-key-never-stored-8765"
EXPECTED = json.loads((FIXTURES / "EXPECTED.json").read_text())["fixtures"]
MESSAGES = [{"role": "user", "content": "Hello"}]


def sdk(stack, endpoint) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=PROVIDER_KEY, base_url=f"{stack.url}/proxy/{endpoint.slug}/openai/v1", max_retries=0
    )


def scenario(value: str) -> dict:
    return {"extra_headers": {"x-fake-scenario": value}}


def assert_logged_as_expected(log, fixture: str) -> None:
    """The log holds the fixture's usage and exact cost (EXPECTED.json)."""
    expected = EXPECTED[fixture]
    # OpenAI's prompt count includes cached tokens; the log keeps them apart.
    assert log.input_tokens + log.cache_read_tokens == expected["input_tokens"]
    assert log.cache_read_tokens == expected["cached_input_tokens"]
    assert log.output_tokens == expected["output_tokens"]
    assert log.reasoning_tokens == expected["reasoning_tokens"]
    assert log.model == expected["model"]
    assert log.cost_cents == Decimal(expected["cost_usd"]) * 100
    assert (log.provider, log.outcome, log.incomplete, log.usage_missing) == (
        "openai",
        "ok",
        False,
        False,
    )


def test_a_chat_completion_is_forwarded_and_logged_with_its_exact_cost(live_stack, proxy_endpoint):
    raw = sdk(live_stack, proxy_endpoint).chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=MESSAGES
    )
    completion = raw.parse()
    assert completion.usage.prompt_tokens == 1200
    assert completion.usage.prompt_tokens_details.cached_tokens == 1024

    log = live_stack.log(raw.headers["x-codecosts-log-id"])
    assert_logged_as_expected(log, "openai_chat_nonstream.json")
    assert (log.path, log.streamed, log.status_code) == ("/v1/chat/completions", False, 200)
    assert (log.request_model, log.endpoint_id) == ("gpt-4.1", proxy_endpoint.id)
    assert log.key_hint == "8765"
    assert live_stack.upstream.requests[-1].path == "/v1/chat/completions"
    assert live_stack.upstream.requests[-1].headers["Authorization"] == f"Bearer {PROVIDER_KEY}"


def test_a_chat_stream_with_include_usage_is_metered_from_its_last_chunk(
    live_stack, proxy_endpoint
):
    raw = sdk(live_stack, proxy_endpoint).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-accel-buffering"] == "no"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert (chunks[-1].choices, chunks[-1].usage.total_tokens) == ([], 29)

    log = live_stack.log(raw.headers["x-codecosts-log-id"])
    assert_logged_as_expected(log, "openai_chat_stream_include_usage.sse")
    assert (log.streamed, log.stop_reason) == (True, "stop")


def test_a_chat_stream_without_include_usage_is_logged_as_usage_missing_never_free(
    live_stack, proxy_endpoint
):
    raw = sdk(live_stack, proxy_endpoint).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    chunks = list(raw.parse())
    assert chunks and all(c.usage is None for c in chunks)
    # Forwarded as sent: the proxy does not ask OpenAI for usage behind the client's back
    # (docs/openai.md).
    sent = json.loads(live_stack.upstream.requests[-1].body)
    assert sent["stream"] is True and "stream_options" not in sent

    log = live_stack.log(raw.headers["x-codecosts-log-id"])
    assert (log.usage_missing, log.cost_cents, log.unpriced) == (True, None, False)
    assert (log.outcome, log.streamed, log.incomplete) == ("ok", True, False)
    assert (log.input_tokens, log.output_tokens) == (0, 0)
    assert log.model == "gpt-4o-mini-2024-07-18"


def test_a_response_is_forwarded_and_logged_with_its_exact_cost(live_stack, proxy_endpoint):
    raw = sdk(live_stack, proxy_endpoint).responses.with_raw_response.create(
        model="gpt-5-mini", input="Hello"
    )
    response = raw.parse()
    assert response.usage.output_tokens_details.reasoning_tokens == 448
    log = live_stack.log(raw.headers["x-codecosts-log-id"])
    assert_logged_as_expected(log, "openai_responses_nonstream.json")
    assert (log.path, log.streamed) == ("/v1/responses", False)


def test_a_responses_stream_is_metered_from_response_completed(live_stack, proxy_endpoint):
    raw = sdk(live_stack, proxy_endpoint).responses.with_raw_response.create(
        model="gpt-4.1-mini", input="Hello", stream=True
    )
    events = list(raw.parse())
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage.total_tokens == 48
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == events[-1].response.output_text

    log = live_stack.log(raw.headers["x-codecosts-log-id"])
    assert_logged_as_expected(log, "openai_responses_stream.sse")
    assert log.streamed is True


def test_embeddings_are_forwarded_and_logged_with_their_input_tokens(live_stack, proxy_endpoint):
    raw = sdk(live_stack, proxy_endpoint).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["first text", "second text"]
    )
    result = raw.parse()
    # The SDK asks for base64 and decodes it: the bytes went through untouched.
    assert [d.embedding for d in result.data] == [[0.25, -0.5, 0.125, 1.0]] * 2
    assert result.usage.prompt_tokens == 10

    log = live_stack.log(raw.headers["x-codecosts-log-id"])
    assert (log.path, log.model, log.input_tokens, log.output_tokens) == (
        "/v1/embeddings",
        "text-embedding-3-small",
        10,
        0,
    )
    assert log.usage_missing is False
    # Priced from the table; a model it does not price is flagged, never billed as zero.
    expected = cost_compute(
        model="text-embedding-3-small", usage=TokenUsage(input_tokens=10), at=log.started_at
    )
    assert log.cost_cents == expected
    assert log.unpriced is (expected is None)


def test_an_upstream_429_reaches_the_sdk_as_a_rate_limit_error_in_openais_shape(
    live_stack, proxy_endpoint
):
    with pytest.raises(openai.RateLimitError) as raised:
        sdk(live_stack, proxy_endpoint).chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, **scenario("status=429")
        )
    response = raised.value.response
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.content == (FIXTURES / "openai_error_429.json").read_bytes()
    assert raised.value.code == "rate_limit_exceeded"
    assert set(raised.value.body) == {"message", "type", "param", "code"}

    log = live_stack.log(response.headers["x-codecosts-log-id"])
    assert (log.status_code, log.outcome, log.cost_cents) == (429, "upstream_error", Decimal(0))
    assert log.error_type == "tokens"


def test_the_proxys_own_rate_limit_answers_429_in_openais_shape(live_stack, transactional_db):
    organization = Organization.objects.create(name="Rate limited")
    endpoint = ProxyEndpoint.objects.create(
        organization=organization,
        name="Limited",
        slug=fresh_slug(),
        rate_limit_per_minute=1,
        require_key=False,
    )
    client = sdk(live_stack, endpoint)
    first = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=MESSAGES)
    live_stack.log(first.headers["x-codecosts-log-id"])  # written before the test's flush
    calls = len(live_stack.upstream.requests)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert raised.value.response.json() == {
        "error": {
            "message": f"Rate limit exceeded for proxy endpoint '{endpoint.slug}'.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert int(raised.value.response.headers["retry-after"]) >= 1
    assert len(live_stack.upstream.requests) == calls  # never forwarded


def test_an_unknown_slug_is_a_404_in_openais_shape(live_stack, transactional_db):
    client = openai.OpenAI(
        api_key=PROVIDER_KEY,
        base_url=f"{live_stack.url}/proxy/no-such-endpoint/openai/v1",
        max_retries=0,
    )
    calls = len(live_stack.upstream.requests)
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    assert raised.value.response.json() == {
        "error": {
            "message": "No proxy endpoint named 'no-such-endpoint'.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    assert len(live_stack.upstream.requests) == calls


def test_the_logged_request_body_is_the_one_the_sdk_sent(live_stack, proxy_endpoint):
    raw = sdk(live_stack, proxy_endpoint).chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=MESSAGES, temperature=0.5
    )
    log = live_stack.log(raw.headers["x-codecosts-log-id"])
    forwarded = live_stack.upstream.requests[-1].body
    assert stored_request(log) == forwarded
    assert json.loads(forwarded) == {"model": "gpt-4.1", "messages": MESSAGES, "temperature": 0.5}
