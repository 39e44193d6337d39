"""How usage batches travel to the worker: the body serializer of the usage task and the
Redis transport's envelope, both written by orjson (codecosts.celery, codecosts.broker)."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
import redis
from django.conf import settings
from kombu import serialization
from kombu.utils.json import loads as kombu_loads

from codecosts import broker
from codecosts.celery import USAGE_CONTENT_TYPE, USAGE_SERIALIZER
from tests.factories import usage_record
from usage.records import record_to_payload
from usage.tasks import usage_log_record_batch


def batch(count: int = 3) -> list[dict]:
    return [record_to_payload(usage_record(user_agent='quote " backslash \\ café ✓')) for _ in range(count)]


def test_a_usage_batch_is_serialised_as_json_the_worker_accepts_and_reads_back_equal():
    payloads = batch()
    content_type, encoding, data = serialization.dumps(payloads, serializer=USAGE_SERIALIZER)

    assert (content_type, encoding) == (USAGE_CONTENT_TYPE, "utf-8")
    assert USAGE_CONTENT_TYPE in settings.CELERY_ACCEPT_CONTENT
    assert serialization.loads(data, content_type, encoding, accept=settings.CELERY_ACCEPT_CONTENT) == payloads
    assert orjson.loads(data) == payloads  # plain JSON


def test_the_envelope_is_json_kombu_reads_back_equal():
    message = {
        "body": orjson.dumps([[batch()], {}, {"callbacks": None}]).decode(),
        "content-encoding": "utf-8",
        "content-type": USAGE_CONTENT_TYPE,
        "headers": {"task": "usage.tasks.usage_log_record_batch", "eta": None, "timelimit": [None, None]},
        "properties": {"delivery_tag": str(uuid.uuid4()), "priority": 0, "body_encoding": "utf-8"},
    }

    written = broker.envelope(message)

    assert kombu_loads(written) == message
    assert "café" in written  # orjson's (kombu's encoder escapes it as \u00e9)


@pytest.mark.parametrize("value", [datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC), Decimal("1.383")])
def test_an_envelope_holding_a_type_json_lacks_goes_to_kombus_encoder_and_comes_back_typed(value):
    message = {"body": "{}", "headers": {"when": value}}
    written = broker.envelope(message)

    assert kombu_loads(written) == message
    assert '"__type__"' in written  # kombu's tag


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (set in CI)")
def test_a_published_usage_batch_is_on_redis_as_the_worker_takes_it():
    queue = f"test-broker-{uuid.uuid4().hex[:10]}"
    payloads = batch(2)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        usage_log_record_batch.apply_async(args=[payloads], queue=queue, retry=False)
        [raw] = client.lrange(queue, 0, -1)
    finally:
        client.delete(queue)

    message = kombu_loads(raw)
    assert message["content-type"] == USAGE_CONTENT_TYPE
    assert message["headers"]["task"] == "usage.tasks.usage_log_record_batch"
    args, kwargs, _ = orjson.loads(message["body"])
    assert (args, kwargs) == ([payloads], {})
