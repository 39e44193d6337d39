"""A web process killed with SIGKILL loses no call the provider saw (usage.journal).

The product as deployed (uvicorn, and a Celery worker when REDIS_URL is set), the fake
provider, real processes: calls answered just before the kill (their records still in
the process's memory, lingering for a batch) and streams in flight at the kill. After
the next web process starts on the same spool directory, every call is logged once:
the answered ones complete, the streams as `interrupted` with the usage they had shown.
"""

import json
import threading
import uuid
from decimal import Decimal

import httpx

from tests.live import AsgiServer, wait_until
from tests.live_fixtures import start_stack
from usage.models import UsageLog

MESSAGE = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
ANSWERED = 30
IN_FLIGHT = 3


def test_after_a_sigkill_every_call_that_reached_the_provider_is_logged_once(
    django_db_setup, tmp_path_factory, fake_upstream, proxy_endpoint
):
    stack = start_stack(tmp_path_factory, fake_upstream, "sigkill", RATE_LIMIT_MESSAGES_PER_MINUTE=0)
    url = stack.base_url(proxy_endpoint) + "/v1/messages"
    headers = {"x-api-key": "sk-test-1234", "content-type": "application/json"}
    replacement = None
    try:
        # Streams held open by the fake provider after their first event.
        streams, opened = [], threading.Barrier(IN_FLIGHT + 1)

        def hold_a_stream():
            token = uuid.uuid4().hex
            scenario = {**headers, "x-fake-scenario": f"lockstep={token}"}
            try:
                with httpx.stream(
                    "POST", url, headers=scenario, json={**MESSAGE, "stream": True}, timeout=30
                ) as response:
                    streams.append(response.headers["x-codecosts-log-id"])
                    chunks = response.iter_raw()
                    next(chunks)
                    opened.wait(10)
                    for _ in chunks:  # until the kill cuts it
                        pass
            except httpx.HTTPError:
                pass  # the kill cut it

        threads = [threading.Thread(target=hold_a_stream) for _ in range(IN_FLIGHT)]
        for thread in threads:
            thread.start()
        opened.wait(10)
        with httpx.Client(timeout=15) as client:
            answered = [client.post(url, headers=headers, json=MESSAGE) for _ in range(ANSWERED)]
        stack.server.proc.kill()  # SIGKILL: no shutdown, no flush
        stack.server.proc.wait(10)
        for thread in threads:
            thread.join(15)
        assert [r.status_code for r in answered] == [200] * ANSWERED

        replacement = AsgiServer(stack.server.env, stack.server.log_path.with_name("replacement.log")).start()

        ids = {r.headers["x-codecosts-log-id"] for r in answered}
        expected = ids | set(streams)
        assert len(streams) == IN_FLIGHT
        logs = stack.logs_for(proxy_endpoint, len(expected), timeout=60)
        by_id = {str(log.id): log for log in logs}
        lost = expected - by_id.keys()
        assert (len(lost), len(logs) - len(by_id)) == (0, 0), f"lost {len(lost)}, duplicated {len(logs) - len(by_id)}"
        assert {by_id[i].outcome for i in ids} == {"ok"}
        assert all(by_id[i].input_tokens == 2095 and by_id[i].cost_cents > 0 for i in ids)
        assert {by_id[i].outcome for i in streams} == {"interrupted"}
        assert all(by_id[i].incomplete and by_id[i].status_code is None for i in streams)
        # With what the provider bills them for: the input in the stream's message_start
        # (anthropic_stream_text.sse: 25 input tokens and 1 output token of Haiku 4.5,
        # $1 and $5 / MTok: 0.0025 + 0.0005 cents).
        assert {(by_id[i].model, by_id[i].input_tokens, by_id[i].output_tokens) for i in streams} == {
            ("claude-haiku-4-5-20251001", 25, 1)
        }
        assert {by_id[i].cost_cents for i in streams} == {Decimal("0.003")}
        assert UsageLog.objects.filter(endpoint=proxy_endpoint).count() == len(expected)
        # Nothing was given up on, and nothing is left to deliver or to recover.
        assert [path.read_text() for path in stack.spool_dir.glob("dead-*.jsonl")] == []
        wait_until(lambda: stack.spooled_bytes() == 0, timeout=30, message="the spool to drain")
        assert json.loads(httpx.get(replacement.url + "/health").text)["usage_pipeline"]["spooled_bytes"] == 0
        assert [path.name for path in stack.spool_dir.glob("recovering-*")] == []
    finally:
        if replacement is not None:
            replacement.stop()
        stack.server.stop()
        if stack.worker:
            stack.worker.stop()
