"""The proxy view driven in process: every way an exchange ends, and the one record it
hands over.

ProxyASGIHandler runs under asgiref's ApplicationCommunicator (no server, no worker); the
upstream is the project's fake provider on loopback, chosen per test through the
`*_UPSTREAM_URL` setting the view reads on every call; the seam under test ends at
`usage.pipeline.record`, where the records are collected instead of shipped.
"""

import asyncio
import json
import socket
import uuid

import pytest
from asgiref.testing import ApplicationCommunicator

from proxy import upstream
from proxy.asgi import ProxyASGIHandler
from proxy.models import ProxyEndpoint
from tests.fake_upstream import FIXTURES
from usage import pipeline
from usage.records import Outcome, UsageRecord, body_raw

MESSAGES = json.dumps(
    {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
).encode()
STREAM = json.dumps({**json.loads(MESSAGES), "stream": True}).encode()


@pytest.fixture
def records(monkeypatch, settings, tmp_path) -> list[UsageRecord]:
    """What the view hands to the pipeline. The call's start still goes to a journal of
    the test's own; the pipeline started for it is stopped afterwards."""
    settings.USAGE_SPOOL_DIR = tmp_path / "spool"
    handed_over: list[UsageRecord] = []
    monkeypatch.setattr(pipeline, "record", handed_over.append)
    yield handed_over
    pipeline.shutdown()


@pytest.fixture
def slug(transactional_db, org, settings, fake_upstream) -> str:
    """An open endpoint, fresh per test (lookups are cached by slug), on the fake upstream."""
    settings.ANTHROPIC_UPSTREAM_URL = fake_upstream.url
    settings.OPENAI_UPSTREAM_URL = fake_upstream.url
    slug = f"outcomes-{uuid.uuid4().hex[:12]}"
    ProxyEndpoint.objects.create(organization=org, name="Outcomes", slug=slug, require_key=False)
    return slug


def scope(slug: str, path: str, scenario: str = "") -> dict:
    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    if scenario:
        headers.append((b"x-fake-scenario", scenario.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/proxy/{slug}{path}",
        "raw_path": f"/proxy/{slug}{path}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def call(slug, body=MESSAGES, *, path="/v1/messages", scenario="", disconnect_after=None):
    """(status, headers, body) the client got; with `disconnect_after`, the client hangs up
    after that many body messages."""

    async def run():
        communicator = ApplicationCommunicator(ProxyASGIHandler(), scope(slug, path, scenario))
        await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await communicator.receive_output(10)
        received, messages = b"", 0
        while True:
            message = await communicator.receive_output(10)
            received += message.get("body", b"")
            messages += 1
            if disconnect_after is not None and messages >= disconnect_after:
                await communicator.send_input({"type": "http.disconnect"})
                break
            if not message.get("more_body", False):
                break
        await communicator.wait(10)
        await upstream.close()
        headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return start["status"], headers, received

    return asyncio.run(run())


def the_record(records) -> UsageRecord:
    assert len(records) == 1, f"{len(records)} records handed over, not one"
    return records[0]


def test_a_json_answer_is_ok_with_its_usage_and_both_bodies(slug, records):
    status, headers, body = call(slug)

    record = the_record(records)
    assert status == 200
    assert (record.outcome, record.status_code, record.incomplete) == (Outcome.OK, 200, False)
    assert (record.usage.input_tokens, record.usage.output_tokens) == (2095, 503)
    assert body_raw(record.request_body) == MESSAGES
    assert body_raw(record.response_body) == body
    assert record.response_size == len(body)
    assert record.upstream_request_id == "req_fake_1"
    assert headers["x-codecosts-log-id"] == record.id


def test_a_stream_is_ok_with_its_final_usage(slug, records):
    status, headers, body = call(slug, STREAM)

    record = the_record(records)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert (record.outcome, record.streamed, record.incomplete) == (Outcome.OK, True, False)
    assert record.usage.final and record.usage.output_tokens > 0
    assert body_raw(record.response_body) == body


def test_a_provider_error_passes_through_as_upstream_error(slug, records):
    status, _, body = call(slug, scenario="status=529")

    record = the_record(records)
    assert status == 529
    assert body == (FIXTURES / "anthropic_error_400.json").read_bytes()  # the fake's error body
    assert (record.outcome, record.status_code) == (Outcome.UPSTREAM_ERROR, 529)


def test_an_error_event_inside_a_200_stream_is_an_upstream_error(slug, records):
    status, _, body = call(slug, STREAM, scenario="fixture=anthropic_stream_error_midstream.sse")

    record = the_record(records)
    assert status == 200 and b"event: error" in body
    assert (record.outcome, record.status_code, record.incomplete) == (Outcome.UPSTREAM_ERROR, 200, True)
    assert record.usage.error_type == "overloaded_error"


def test_a_stream_cut_by_the_provider_ends_with_an_error_event(slug, records):
    status, _, body = call(slug, STREAM, scenario="drop=2")

    record = the_record(records)
    assert status == 200
    assert body.rstrip().endswith(b"}") and b"event: error" in body
    assert (record.outcome, record.incomplete) == (Outcome.UPSTREAM_ERROR, True)
    assert record.usage.error_type == "connection_lost"


def test_a_json_answer_cut_by_the_provider_is_logged_with_the_502_the_client_got(slug, records):
    status, _, body = call(slug, scenario="cut=100")

    record = the_record(records)
    assert status == 502
    assert json.loads(body)["error"]["message"] == "The provider's response was cut off."
    assert (record.outcome, record.status_code, record.incomplete) == (Outcome.UPSTREAM_ERROR, 502, True)


def test_a_provider_that_never_answers_is_an_upstream_timeout(slug, records, settings):
    settings.PROXY_TOTAL_TIMEOUT = 0.3

    status, _, body = call(slug, scenario="hang")

    record = the_record(records)
    assert status == 504
    assert json.loads(body)["error"]["message"] == "The provider did not answer in time."
    assert (record.outcome, record.status_code, record.incomplete) == (Outcome.UPSTREAM_TIMEOUT, None, True)


def test_a_stream_that_goes_silent_is_an_upstream_timeout(slug, records, settings):
    settings.PROXY_READ_TIMEOUT = 0.3

    status, _, body = call(slug, STREAM, scenario="hang")

    record = the_record(records)
    assert status == 200 and b"The provider stopped sending for too long." in body
    assert (record.outcome, record.streamed, record.incomplete) == (Outcome.UPSTREAM_TIMEOUT, True, True)


def test_an_unreachable_provider_is_logged_without_a_status(slug, records, settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.ANTHROPIC_UPSTREAM_URL = f"http://127.0.0.1:{port}"

    status, _, body = call(slug)

    record = the_record(records)
    assert status == 502
    assert json.loads(body)["error"]["message"] == "The provider could not be reached."
    assert (record.outcome, record.status_code, record.ttfb_ms) == (Outcome.UPSTREAM_UNREACHABLE, None, None)


def test_an_answer_over_the_cap_is_refused_and_logged(slug, records, settings):
    settings.PROXY_MAX_RESPONSE_BYTES = 10_000

    status, _, body = call(slug, scenario="big=50000")

    record = the_record(records)
    assert status == 502
    assert json.loads(body)["error"]["message"] == "The provider's response is too large."
    assert (record.outcome, record.status_code) == (Outcome.RESPONSE_TOO_LARGE, 502)


def test_a_client_that_hangs_up_mid_stream_is_logged_with_what_was_seen(slug, records, fake_upstream):
    token = uuid.uuid4().hex
    # The provider sends one event, then waits for a release that never comes.
    status, _, body = call(slug, STREAM, scenario=f"lockstep={token}", disconnect_after=1)

    record = the_record(records)
    assert status == 200 and body.startswith(b"event: message_start")
    assert (record.outcome, record.streamed, record.incomplete) == (
        Outcome.CLIENT_DISCONNECTED,
        True,
        True,
    )
    assert record.usage.input_tokens > 0  # message_start's usage was seen
    assert body_raw(record.response_body) == body


def test_an_unmetered_route_hands_over_no_record(slug, records):
    status, _, _ = call(slug, path="/v1/models", body=b"")

    assert status == 404  # the fake provider has no such route; it is passed through
    assert records == []


def test_the_call_is_journalled_before_it_is_forwarded(slug, records, settings):
    call(slug)

    record = the_record(records)
    (journal,) = settings.USAGE_SPOOL_DIR.glob("journal-*.jsonl")
    (start,) = [json.loads(line)["s"] for line in journal.read_bytes().splitlines()]
    assert start["id"] == record.id
    assert (start["endpoint_slug"], start["path"], start["request_size"]) == (slug, "/v1/messages", len(MESSAGES))


def test_every_outcome_is_reached_by_a_test_here():
    """INTERRUPTED is not the view's to give: the journal's recovery gives it
    (tests/usage/test_journal.py, tests/reliability/)."""
    source = open(__file__).read()
    assert all(f"Outcome.{outcome.name}" in source for outcome in Outcome if outcome != Outcome.INTERRUPTED)
