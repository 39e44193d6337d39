"""A Celery worker killed with SIGKILL mid-batch strands nothing (issue 11.2).

The usage task is acknowledged late and the broker's visibility timeout is 60 s
(codecosts/settings.py): the batch the killed worker held is delivered to the next
worker about a minute later and written once. The worker is caught mid-batch for sure
by holding a lock on the log table, so its write waits inside the task.
"""

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection, transaction

from tests.live import CeleryWorker, wait_until
from tests.live_fixtures import start_stack
from usage.models import UsageLog

MESSAGE = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
CALLS = 20

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="needs PostgreSQL (set in CI): the table lock that holds the worker mid-batch",
)


def test_a_batch_held_by_a_killed_worker_is_written_once_by_the_next(
    django_db_setup, tmp_path_factory, fake_upstream, own_redis, proxy_endpoint
):
    # A broker of the test's own: no other test's worker may take its batches.
    stack = start_stack(
        tmp_path_factory, fake_upstream, "worker-kill", redis_url=own_redis.url, RATE_LIMIT_MESSAGES_PER_MINUTE=0
    )
    broker = redis.Redis.from_url(stack.worker.env["REDIS_URL"])
    url = stack.base_url(proxy_endpoint) + "/v1/messages"
    headers = {"x-api-key": "sk-test-1234", "content-type": "application/json"}
    replacement = None
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE usage_usagelog IN ACCESS EXCLUSIVE MODE")
            with httpx.Client(timeout=15) as client:
                answered = [client.post(url, headers=headers, json=MESSAGE) for _ in range(CALLS)]
            # The worker took a batch (or a few: its prefetch) and waits on the lock, holding
            # them unacknowledged; any others wait in the queue.
            wait_until(
                lambda: broker.hlen("unacked") > 0,
                timeout=60,
                message=lambda: f"the worker to take the batch{stack.process_logs()}",
            )
            stack.worker.proc.kill()
            stack.worker.proc.wait(10)
        assert [r.status_code for r in answered] == [200] * CALLS
        assert not UsageLog.objects.filter(endpoint=proxy_endpoint).exists()

        replacement = CeleryWorker(stack.worker.env, stack.worker.log_path.with_name("replacement.log")).start()

        ids = {r.headers["x-codecosts-log-id"] for r in answered}
        logs = stack.logs_for(proxy_endpoint, CALLS, timeout=120)
        assert {str(log.id) for log in logs} == ids
        wait_until(
            lambda: broker.hlen("unacked") == 0 and broker.llen("usage") == 0,
            timeout=30,
            message="the broker to hold nothing",
        )
        assert UsageLog.objects.filter(endpoint=proxy_endpoint).count() == CALLS
    finally:
        if replacement is not None:
            replacement.stop()
        stack.server.stop()
        stack.worker.stop()
