"""The Anthropic proxy end to end: official SDK → uvicorn → fake upstream, logged by the worker."""

import json
import zlib
from decimal import Decimal

import anthropic
import httpx
import pytest

from tests.factories import stored_request
from tests.fake_upstream import FIXTURES
from tests.live import wait_until
from usage.models import UsageLog

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROVIDER_KEY = "sk-ant-api03-SECRET-provider-key-never-stored-4321"


def sdk(stack, endpoint, **kwargs) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=PROVIDER_KEY, base_url=stack.base_url(endpoint), max_retries=0, **kwargs)


def scenario(value: str) -> dict:
    return {"extra_headers": {"x-fake-scenario": value}}


def test_it_forwards_a_message_and_logs_its_exact_usage_and_cost(live_stack, proxy_endpoint):
    raw = sdk(live_stack, proxy_endpoint).messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=1024, messages=[{"role": "user", "content": "Hello"}]
    )
    message = raw.parse()
    assert message.usage.input_tokens == 2095
    log = live_stack.log(raw.headers["x-codecosts-log-id"])

    assert log.endpoint_id == proxy_endpoint.id
    assert log.organization_id == proxy_endpoint.organization_id
    assert (log.model, log.request_model) == ("claude-sonnet-4-6", "claude-sonnet-4-6")
    assert (log.input_tokens, log.output_tokens) == (2095, 503)
    assert log.cost_cents == Decimal("1.383")
    assert (log.status_code, log.outcome, log.streamed, log.incomplete) == (200, "ok", False, False)
    assert log.upstream_request_id == "req_fake_1"
    assert log.key_hint == "4321"
    assert log.path == "/v1/messages"
    assert json.loads(stored_request(log))["messages"][0]["content"] == "Hello"
    assert json.loads(zlib.decompress(log.body.response_body))["usage"]["output_tokens"] == 503


def test_it_streams_text_and_logs_the_raw_stream(live_stack, proxy_endpoint):
    client = sdk(live_stack, proxy_endpoint)
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        text = stream.get_final_text()
        log_id = stream.response.headers["x-codecosts-log-id"]
        assert stream.response.headers["x-accel-buffering"] == "no"
        assert stream.response.headers["cache-control"] == "no-cache"
    assert text
    log = live_stack.log(log_id)
    assert (log.model, log.input_tokens, log.output_tokens) == ("claude-haiku-4-5-20251001", 25, 15)
    assert log.cost_cents == Decimal("0.01")
    assert (log.streamed, log.outcome, log.incomplete) == (True, "ok", False)
    assert zlib.decompress(log.body.response_body).startswith(b"event: message_start")


@pytest.mark.parametrize(
    ("fixture", "model", "expected"),
    [
        ("anthropic_stream_tool_use.sse", "claude-opus-4-8", (472, 89, 0, 0, 0, "0.4585")),
        ("anthropic_stream_thinking.sse", "claude-opus-5", (86, 312, 0, 0, 0, "0.823")),
        ("anthropic_stream_cache.sse", "claude-sonnet-5-5", (50, 420, 1000, 2000, 20000, "1.68")),
    ],
)
def test_it_meters_tool_use_thinking_and_cache_streams(live_stack, proxy_endpoint, fixture, model, expected):
    client = sdk(live_stack, proxy_endpoint)
    with client.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "Hi"}], **scenario(f"fixture={fixture}")
    ) as stream:
        final = stream.get_final_message()
        log_id = stream.response.headers["x-codecosts-log-id"]
    if fixture.endswith("tool_use.sse"):
        assert final.content[-1].input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    log = live_stack.log(log_id)
    got = (
        log.input_tokens, log.output_tokens, log.cache_write_5m_tokens, log.cache_write_1h_tokens,
        log.cache_read_tokens, str(log.cost_cents.normalize()),
    )
    assert got == expected


def test_count_tokens_is_forwarded_and_never_logged(live_stack, proxy_endpoint):
    result = sdk(live_stack, proxy_endpoint).messages.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "Hello"}]
    )
    assert result.input_tokens == 2095
    assert live_stack.upstream.requests[-1].path == "/v1/messages/count_tokens"
    assert not UsageLog.objects.filter(endpoint=proxy_endpoint).exists()


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (403, anthropic.PermissionDeniedError),
        (404, anthropic.NotFoundError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.APIStatusError),
    ],
)
def test_upstream_errors_pass_through_unchanged_and_are_logged(live_stack, proxy_endpoint, status, error_class):
    with pytest.raises(error_class) as raised:
        sdk(live_stack, proxy_endpoint).messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "x"}],
            **scenario(f"status={status}"),
        )
    assert raised.value.status_code == status
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "7"
    log = live_stack.log(raised.value.response.headers["x-codecosts-log-id"])
    assert (log.status_code, log.outcome, log.cost_cents) == (status, "upstream_error", Decimal(0))
    expected_type = "rate_limit_error" if status == 429 else "invalid_request_error"
    assert log.error_type == expected_type
    assert json.loads(zlib.decompress(log.body.response_body))["error"]["type"] == expected_type


def test_an_error_event_mid_stream_reaches_the_client_and_is_logged_as_partial(live_stack, proxy_endpoint):
    client = sdk(live_stack, proxy_endpoint)
    with pytest.raises(anthropic.APIStatusError):
        with client.messages.stream(
            model="claude-sonnet-5", max_tokens=10, messages=[{"role": "user", "content": "x"}],
            **scenario("fixture=anthropic_stream_error_midstream.sse"),
        ) as stream:
            log_id = stream.response.headers["x-codecosts-log-id"]
            stream.get_final_message()
    log = live_stack.log(log_id)
    assert (log.error_type, log.incomplete, log.input_tokens, log.output_tokens) == ("overloaded_error", True, 1200, 1)
    assert log.cost_cents == Decimal("0.241")


def test_a_dropped_upstream_connection_is_logged_with_the_usage_seen(live_stack, proxy_endpoint):
    client = sdk(live_stack, proxy_endpoint)
    with pytest.raises((anthropic.APIError, httpx.HTTPError)):
        with client.messages.stream(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}],
            **scenario("drop=3"),
        ) as stream:
            log_id = stream.response.headers["x-codecosts-log-id"]
            stream.get_final_message()
    log = live_stack.log(log_id)
    assert (log.outcome, log.incomplete, log.input_tokens) == ("upstream_error", True, 25)


def test_streaming_is_incremental(live_stack, proxy_endpoint):
    """The client holds event k before the upstream is allowed to send event k+1."""
    token = f"order-{proxy_endpoint.slug}"
    upstream = live_stack.upstream
    received = 0
    with httpx.stream(
        "POST",
        live_stack.base_url(proxy_endpoint) + "/v1/messages",
        headers={"x-api-key": PROVIDER_KEY, "x-fake-scenario": f"lockstep={token}", "content-type": "application/json"},
        content=b'{"model": "claude-haiku-4-5", "stream": true, "max_tokens": 5, "messages": []}',
        timeout=15,
    ) as response:
        buffer = b""
        for chunk in response.iter_raw():
            buffer += chunk
            while b"\n\n" in buffer:
                _, buffer = buffer.split(b"\n\n", 1)
                received += 1
                # Upstream has sent exactly the events we hold: none is waiting in the proxy.
                assert upstream.sent[token] == received
                upstream.release(token)
    fixture = (FIXTURES / "anthropic_stream_text.sse").read_bytes()
    assert received == len([e for e in fixture.split(b"\n\n") if e.strip()])


def test_a_client_that_disconnects_cancels_upstream_and_is_logged(live_stack, proxy_endpoint):
    token = f"gone-{proxy_endpoint.slug}"
    with httpx.stream(
        "POST",
        live_stack.base_url(proxy_endpoint) + "/v1/messages",
        headers={"x-api-key": PROVIDER_KEY, "x-fake-scenario": f"lockstep={token}"},
        content=b'{"model": "claude-haiku-4-5", "stream": true, "max_tokens": 5, "messages": []}',
        timeout=15,
    ) as response:
        log_id = response.headers["x-codecosts-log-id"]
        next(response.iter_raw())  # message_start, then walk away
    log = live_stack.log(log_id)
    assert (log.outcome, log.incomplete, log.input_tokens) == ("client_disconnected", True, 25)
    wait_until(lambda: token in live_stack.upstream.disconnected, message="upstream request cancelled")


def test_headers_body_and_query_are_forwarded_as_they_came(live_stack, proxy_endpoint):
    body = b'{"model":  "claude-sonnet-4-6",\n "messages": [] }'  # odd spacing survives
    response = httpx.post(
        live_stack.base_url(proxy_endpoint) + "/v1/messages/batches?beta=true&x=1",
        headers={
            "x-api-key": PROVIDER_KEY,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "context-1m-2025-08-07",
            "x-stainless-lang": "python",
            "x-app": "cli",
            "accept-language": "fr",
            "cookie": "session=1",
            "x-forwarded-for": "10.1.2.3",
            "x-codecosts-session": "never-forwarded",
            "x-fake-scenario": "echo",
            "content-type": "application/json",
        },
        content=body,
    )
    echoed = response.json()
    assert echoed["path"] == "/v1/messages/batches" and echoed["query"] == "beta=true&x=1"
    assert echoed["body"].encode() == body
    headers = echoed["headers"]
    for name in ("x-api-key", "anthropic-version", "anthropic-beta", "x-stainless-lang", "x-app", "accept-language"):
        assert name in headers, name
    for name in ("cookie", "x-forwarded-for", "x-codecosts-session"):
        assert name not in headers, name
    assert headers["host"] == live_stack.upstream.url.removeprefix("http://")


def test_claude_codes_probe_and_unknown_slugs_answer_at_once(live_stack, proxy_endpoint):
    assert httpx.head(live_stack.base_url(proxy_endpoint) + "/api/hello").status_code == 200
    missing = httpx.post(live_stack.url + "/proxy/no-such-endpoint/v1/messages", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"


def test_the_provider_key_is_found_nowhere_in_the_database(live_stack, proxy_endpoint):
    from django.db import connection

    client = sdk(live_stack, proxy_endpoint)
    log_id = client.messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    ).headers["x-codecosts-log-id"]
    bearer = anthropic.Anthropic(
        auth_token=PROVIDER_KEY, base_url=live_stack.base_url(proxy_endpoint), max_retries=0
    ).messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    ).headers["x-codecosts-log-id"]
    live_stack.log(log_id)
    live_stack.log(bearer)
    secret = PROVIDER_KEY.encode()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    raw = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                    if isinstance(value, (bytes, memoryview)):
                        try:
                            raw += zlib.decompress(raw)
                        except zlib.error:
                            pass
                    assert secret not in raw, table
                    assert b"SECRET-provider" not in raw, table
