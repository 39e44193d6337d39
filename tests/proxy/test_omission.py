"""Omission (issue 15): an endpoint's store_bodies and a call's x-codecosts-omit leave
bodies out of the log, decided at the edge; usage, cost and timing are always kept.

The view runs in process against the fake provider (as tests/proxy/test_view_outcomes.py)
to see the one record it hands over; the endpoint's setting goes through the API and the
Settings page with the owner/member/outsider world; one call goes through the running
product to its log.
"""

import asyncio
import json
import uuid

import httpx
import pytest
from django.test import Client

from proxy.exchange import bodies_omitted
from proxy.lookups import endpoint_for_slug, lookups_clear
from proxy.models import ProxyEndpoint
from proxy.services import proxy_endpoint_create, proxy_endpoint_update
from tests.asgi import proxy_exchange
from tests.factories import usage_record
from usage import pipeline
from usage.models import UsageLog
from usage.records import UsageRecord, body_raw
from usage.services.logs import usage_log_record

MESSAGES = json.dumps(
    {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
).encode()
STREAM = json.dumps({**json.loads(MESSAGES), "stream": True}).encode()


@pytest.mark.parametrize(
    "store_bodies, header, omitted",
    [
        ("full", None, ""),
        ("request_only", None, "response"),
        ("metadata_only", None, "all"),
        ("full", "request", "request"),
        ("full", " Response ", "response"),
        ("full", "all", "all"),
        ("request_only", "request", "all"),  # the stricter of both: neither body
        ("request_only", "response", "response"),
        ("metadata_only", "request", "all"),
        ("full", "everything", ""),  # unknown: ignored (and told in the log's warnings)
        ("request_only", "", "response"),
    ],
)
def test_the_stricter_of_the_endpoint_and_the_header_wins(store_bodies, header, omitted):
    assert bodies_omitted(store_bodies, header) == omitted


# --- At the edge ------------------------------------------------------------------------


@pytest.fixture
def records(monkeypatch, settings, tmp_path) -> list[UsageRecord]:
    settings.USAGE_SPOOL_DIR = tmp_path / "spool"
    handed_over: list[UsageRecord] = []
    monkeypatch.setattr(pipeline, "record", handed_over.append)
    yield handed_over
    pipeline.shutdown()


@pytest.fixture
def endpoint_for(transactional_db, org, settings, fake_upstream):
    settings.ANTHROPIC_UPSTREAM_URL = fake_upstream.url

    def make(store_bodies: str) -> str:
        slug = f"omit-{uuid.uuid4().hex[:12]}"
        ProxyEndpoint.objects.create(
            organization=org, name="Omit", slug=slug, require_key=False, store_bodies=store_bodies
        )
        return slug

    return make


def call(slug: str, body: bytes = MESSAGES, *, omit: str | None = None) -> bytes:
    headers = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    if omit is not None:
        headers.append((b"x-codecosts-omit", omit.encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": f"/proxy/{slug}/v1/messages",
        "raw_path": f"/proxy/{slug}/v1/messages".encode(), "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }

    status, _, received = proxy_exchange(scope, (body,))
    assert status == 200
    return received


def test_a_metadata_only_endpoint_keeps_neither_body_but_their_sizes_and_usage(endpoint_for, records, fake_upstream):
    answer = call(endpoint_for("metadata_only"))

    (record,) = records
    assert (record.omitted, body_raw(record.request_body), body_raw(record.response_body)) == ("all", b"", b"")
    assert (record.request_size, record.response_size) == (len(MESSAGES), len(answer))
    assert (record.request_truncated, record.response_truncated) == (False, False)
    assert (record.usage.input_tokens, record.usage.output_tokens) == (2095, 503)
    assert record.duration_ms >= 0 and record.ttfb_ms is not None
    assert fake_upstream.requests[-1].body == MESSAGES  # forwarded whole all the same


def test_an_omitted_stream_is_not_kept_but_metered_to_its_final_usage(endpoint_for, records):
    answer = call(endpoint_for("request_only"), STREAM)

    (record,) = records
    assert record.omitted == "response" and record.streamed
    assert body_raw(record.request_body) == STREAM
    assert body_raw(record.response_body) == b"" and record.response_size == len(answer)
    assert record.usage.final and record.usage.output_tokens > 0 and not record.incomplete


def test_the_header_leaves_out_more_and_never_reaches_the_provider(endpoint_for, records, fake_upstream):
    slug = endpoint_for("full")

    call(slug, omit="request")
    call(endpoint_for("request_only"), omit="request")

    first, second = records
    assert (first.omitted, body_raw(first.request_body)) == ("request", b"")
    assert body_raw(first.response_body)  # kept
    assert second.omitted == "all"
    for received in fake_upstream.requests[-2:]:
        assert not any(name.lower().startswith("x-codecosts") for name in received.headers)


def test_an_unknown_header_value_keeps_the_bodies_and_is_told_in_the_log(endpoint_for, records):
    call(endpoint_for("full"), omit="everything")

    (record,) = records
    assert record.omitted == "" and body_raw(record.request_body) == MESSAGES
    log = usage_log_record(record=record)
    assert log.attribution_warnings == [
        "x-codecosts-omit ignored: 'everything' is not request, response or all (the endpoint's store_bodies applies)"
    ]
    assert log.body.omitted == "" and log.body.request_size == len(MESSAGES)


def test_the_endpoint_lookup_carries_store_bodies_and_sees_a_change(transactional_db, org):
    # A fresh slug: no process or shared cache holds a lookup of it.
    endpoint = proxy_endpoint_create(organization=org, name="Looked up", slug=f"look-{uuid.uuid4().hex[:10]}")
    assert asyncio.run(endpoint_for_slug(endpoint.slug)).store_bodies == "full"

    proxy_endpoint_update(endpoint=endpoint, store_bodies="metadata_only")
    lookups_clear()  # this process's copy (PROXY_ENDPOINT_CACHE_SECONDS elsewhere)

    assert asyncio.run(endpoint_for_slug(endpoint.slug)).store_bodies == "metadata_only"


# --- The log ------------------------------------------------------------------------------


@pytest.fixture
def omitted_log(endpoint) -> UsageLog:
    record = usage_record(
        endpoint=endpoint, omitted="all", request_body=b"", response_body=b"",
        request_size=2048, response_size=4096,
    )
    return usage_log_record(record=record)


def test_the_writer_keeps_what_was_omitted_and_the_cost(omitted_log):
    assert omitted_log.body.omitted == "all"
    assert (omitted_log.body.request_size, omitted_log.body.response_size) == (2048, 4096)
    assert omitted_log.cost_cents > 0 and omitted_log.input_tokens > 0


def test_the_log_detail_page_says_the_bodies_were_not_stored(omitted_log, member):
    client = Client()
    client.force_login(member)

    html = client.get(f"/logs/{omitted_log.id}").content.decode()

    assert 'id="request-omitted"' in html and 'id="response-omitted"' in html
    assert "Not stored (omitted by the endpoint" in html and "2.0\xa0KB body" in html
    assert 'id="raw-request"' not in html and 'id="raw-response"' not in html


def test_the_usage_log_api_says_what_was_omitted_to_the_organization_only(
    omitted_log, api_client, outsider_client, member
):
    detail = api_client.get(f"/api/usage-logs/{omitted_log.id}").json()
    assert (detail["omitted"], detail["request_body"], detail["request_size"]) == ("all", None, 2048)

    member_client = Client()
    member_client.force_login(member)
    assert member_client.get(f"/api/usage-logs/{omitted_log.id}").json()["omitted"] == "all"
    assert outsider_client.get(f"/api/usage-logs/{omitted_log.id}").status_code == 404


# --- Who sets it: the API and the Settings page ---------------------------------------------


def test_the_owner_sets_store_bodies_through_the_api(api_client, endpoint):
    response = api_client.patch(f"/api/proxy-endpoints/{endpoint.id}", {"store_bodies": "request_only"})

    assert response.status_code == 200 and response.json()["store_bodies"] == "request_only"
    endpoint.refresh_from_db()
    assert endpoint.store_bodies == "request_only"


def test_a_bad_store_bodies_is_refused_with_the_choices(api_client, endpoint):
    response = api_client.patch(f"/api/proxy-endpoints/{endpoint.id}", {"store_bodies": "none"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"]["store_bodies"] == ["store_bodies must be one of full, request_only, metadata_only"]


def test_a_member_may_create_an_endpoint_that_keeps_less_but_not_change_one(member, endpoint):
    client = Client()
    client.force_login(member)

    created = client.post(
        "/api/proxy-endpoints", {"name": "Quiet", "store_bodies": "metadata_only"}, content_type="application/json"
    )
    changed = client.patch(
        f"/api/proxy-endpoints/{endpoint.id}", {"store_bodies": "metadata_only"}, content_type="application/json"
    )

    assert created.status_code == 201 and created.json()["store_bodies"] == "metadata_only"
    assert changed.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.store_bodies == "full"


def test_an_outsider_cannot_see_or_change_another_organizations_endpoint(outsider_client, endpoint):
    assert outsider_client.get(f"/api/proxy-endpoints/{endpoint.id}").status_code == 404
    response = outsider_client.patch(f"/api/proxy-endpoints/{endpoint.id}", {"store_bodies": "metadata_only"})
    assert response.status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.store_bodies == "full"


def test_the_settings_page_lets_the_owner_choose_and_shows_everyone_the_choice(owner, member, endpoint):
    owner_client, member_client = Client(), Client()
    owner_client.force_login(owner)
    member_client.force_login(member)
    url = f"/settings/endpoints/{endpoint.id}/bodies"

    assert member_client.post(url, {"store_bodies": "metadata_only"}).status_code == 403
    assert 'name="store_bodies" aria-label' not in member_client.get("/settings").content.decode()
    response = owner_client.post(url, {"store_bodies": "metadata_only"}, follow=True)

    endpoint.refresh_from_db()
    assert endpoint.store_bodies == "metadata_only"
    html = response.content.decode()
    assert "keeps: neither (usage, cost and timing only)" in html
    assert "bodies: neither (usage, cost and timing only)" in member_client.get("/settings").content.decode()


def test_the_settings_page_refuses_an_unknown_choice_with_a_message(owner, endpoint):
    client = Client()
    client.force_login(owner)

    response = client.post(f"/settings/endpoints/{endpoint.id}/bodies", {"store_bodies": "some"}, follow=True)

    assert "store_bodies must be one of full, request_only, metadata_only" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.store_bodies == "full"


def test_the_settings_page_creates_an_endpoint_that_keeps_requests_only(member, org):
    client = Client()
    client.force_login(member)

    client.post("/settings/endpoints", {"name": "Requests only", "store_bodies": "request_only"})

    assert ProxyEndpoint.objects.get(organization=org, name="Requests only").store_bodies == "request_only"


# --- Through the running product ---------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_omitted_call_is_logged_with_its_usage_and_cost_and_no_body(live_stack, org):
    endpoint = proxy_endpoint_create(
        organization=org, name="Quiet", slug=f"quiet-{uuid.uuid4().hex[:10]}", require_key=False,
        store_bodies="request_only",
    )
    response = httpx.post(
        live_stack.base_url(endpoint) + "/v1/messages", content=STREAM,
        headers={"content-type": "application/json", "x-codecosts-omit": "request"}, timeout=30,
    )
    assert response.status_code == 200

    log = live_stack.log(response.headers["x-codecosts-log-id"])
    assert log.body.omitted == "all"
    assert (bytes(log.body.request_body), bytes(log.body.response_body)) == (b"", b"")
    assert (log.body.request_size, log.body.response_size) == (len(STREAM), len(response.content))
    assert log.output_tokens > 0 and log.cost_cents > 0 and not log.incomplete
    assert "x-codecosts-omit" not in {name.lower() for name in live_stack.upstream.requests[-1].headers}
