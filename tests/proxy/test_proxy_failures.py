"""What the proxy does when things go wrong: limits, timeouts, outages, rate limits."""

import time
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx
import pytest
import redis

from tests.live import free_port, wait_clear_of_window_end, wait_until
from tests.live_fixtures import start_stack
from usage.models import UsageLog

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MESSAGE = {
    "model": "claude-haiku-4-5",
    "max_tokens": 5,
    "messages": [{"role": "user", "content": "x"}],
}


@pytest.fixture(scope="module")
def tight_stack(django_db_setup, django_db_blocker, tmp_path_factory, fake_upstream):
    """A server with tiny limits: 1 s without upstream bytes, 2 kB responses, 5 kB requests."""
    stack = start_stack(
        tmp_path_factory,
        fake_upstream,
        "tight",
        PROXY_READ_TIMEOUT=1,
        PROXY_MAX_RESPONSE_BYTES=2000,
        PROXY_MAX_REQUEST_BYTES=5000,
        RATE_LIMIT_MESSAGES_PER_MINUTE=0,
    )
    yield stack
    stack.server.stop()
    if stack.worker:
        stack.worker.stop()


@pytest.fixture(scope="module")
def unreachable_stack(django_db_setup, django_db_blocker, tmp_path_factory, fake_upstream):
    """A server whose upstream is a loopback port nobody listens on."""
    stack = start_stack(
        tmp_path_factory,
        fake_upstream,
        "unreachable",
        upstream_url=f"http://127.0.0.1:{free_port()}",
    )
    yield stack
    stack.server.stop()
    if stack.worker:
        stack.worker.stop()


def post(stack, endpoint, *, scenario="", content=None, **kwargs):
    return httpx.post(
        stack.base_url(endpoint) + "/v1/messages",
        headers={
            "x-api-key": "sk-test-1234",
            "x-fake-scenario": scenario,
            "content-type": "application/json",
        },
        content=content,
        json=None if content is not None else MESSAGE,
        timeout=15,
        **kwargs,
    )


def test_a_request_body_over_the_limit_gets_413_in_anthropics_shape(tight_stack, proxy_endpoint):
    forwarded_before = len(tight_stack.upstream.requests)
    response = post(tight_stack, proxy_endpoint, content=b'{"pad": "' + b"x" * 6000 + b'"}')
    assert response.status_code == 413
    assert response.json() == {
        "type": "error",
        "error": {
            "type": "request_too_large",
            "message": "Request body is larger than the proxy's limit of 5000 bytes.",
        },
    }
    assert len(tight_stack.upstream.requests) == forwarded_before


def test_a_response_over_the_limit_gets_502_and_is_logged(tight_stack, proxy_endpoint):
    response = post(tight_stack, proxy_endpoint, scenario="big=5000")
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"
    [log] = tight_stack.logs_for(proxy_endpoint, 1)
    assert (log.outcome, log.status_code) == ("response_too_large", 502)


def test_an_upstream_that_goes_silent_gets_504_and_is_logged(tight_stack, proxy_endpoint):
    response = post(tight_stack, proxy_endpoint, scenario="hang")
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"
    [log] = tight_stack.logs_for(proxy_endpoint, 1)
    assert log.outcome == "upstream_timeout"


def test_a_stream_that_goes_silent_ends_with_an_error_event(tight_stack, proxy_endpoint):
    client = anthropic.Anthropic(
        api_key="sk-test-1234", base_url=tight_stack.base_url(proxy_endpoint), max_retries=0
    )
    with pytest.raises(anthropic.APIStatusError):
        with client.messages.stream(**MESSAGE, extra_headers={"x-fake-scenario": "hang"}) as stream:
            stream.get_final_message()
    [log] = tight_stack.logs_for(proxy_endpoint, 1)
    assert (log.outcome, log.incomplete, log.streamed) == ("upstream_timeout", True, True)


def test_an_unreachable_upstream_gets_502_and_is_logged(unreachable_stack, proxy_endpoint):
    client = anthropic.Anthropic(
        api_key="sk-test-1234", base_url=unreachable_stack.base_url(proxy_endpoint), max_retries=0
    )
    with pytest.raises(anthropic.InternalServerError) as raised:
        client.messages.create(**MESSAGE)
    assert raised.value.status_code == 502
    assert raised.value.body["error"]["type"] == "api_error"
    assert "Traceback" not in raised.value.response.text
    [log] = unreachable_stack.logs_for(proxy_endpoint, 1)
    assert (log.outcome, log.status_code, log.cost_cents) == ("upstream_unreachable", None, None)


def test_no_log_is_lost_or_doubled_while_the_broker_is_down(
    django_db_setup, tmp_path_factory, fake_upstream, own_redis, proxy_endpoint
):
    stack = start_stack(
        tmp_path_factory,
        fake_upstream,
        "broker",
        redis_url=own_redis.url,
        RATE_LIMIT_MESSAGES_PER_MINUTE=0,
    )
    try:
        before = [post(stack, proxy_endpoint) for _ in range(3)]
        # Delivered and written before the outage (a broker restarted without persistence
        # loses what it held: production Redis runs with AOF for that reason).
        stack.logs_for(proxy_endpoint, 3)
        own_redis.stop()
        during = [post(stack, proxy_endpoint) for _ in range(20)]
        # Every client got its answer while the broker was away.
        assert [r.status_code for r in before + during] == [200] * 23
        time.sleep(1)
        own_redis.start()
        logs = stack.logs_for(proxy_endpoint, 23, timeout=60)
        ids = {r.headers["x-codecosts-log-id"] for r in before + during}
        assert {str(log.id) for log in logs} == ids
        # Nothing is left to deliver twice: the spool is drained and the broker holds no
        # task, queued or taken and not yet acknowledged.
        broker = redis.Redis.from_url(own_redis.url)
        wait_until(
            lambda: stack.spooled_bytes() == 0
            and broker.llen("usage") == 0
            and broker.hlen("unacked") == 0,
            timeout=30,
            message=lambda: f"the pipeline to drain{stack.process_logs()}",
        )
        assert UsageLog.objects.filter(endpoint=proxy_endpoint).count() == 23
    finally:
        stack.server.stop()
        stack.worker.stop()


@pytest.mark.skipif(
    "not __import__('django.conf').conf.settings.REDIS_URL", reason="needs REDIS_URL (set in CI)"
)
def test_a_rate_limit_is_shared_by_two_server_processes(
    django_db_setup, tmp_path_factory, fake_upstream, proxy_endpoint
):
    proxy_endpoint.rate_limit_per_minute = 4
    proxy_endpoint.save()
    wait_clear_of_window_end(proxy_endpoint.slug, margin=30)  # two stacks take a while to start
    first = start_stack(tmp_path_factory, fake_upstream, "limit-a")
    second = start_stack(tmp_path_factory, fake_upstream, "limit-b")
    try:
        forwarded_before = len(fake_upstream.requests)
        stacks = [first, second] * 4
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(lambda s: post(s, proxy_endpoint), stacks))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 4 + [429] * 4
        limited = next(r for r in responses if r.status_code == 429)
        assert limited.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Limited calls never reached the provider.
        assert len(fake_upstream.requests) - forwarded_before == 4
    finally:
        for stack in (first, second):
            stack.server.stop()
            if stack.worker:
                stack.worker.stop()
