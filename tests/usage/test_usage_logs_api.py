"""The usage logs REST API: /api/usage-logs and /api/usage-logs/<id>."""

import base64
import json
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from proxy.models import ProxyEndpoint
from usage.models import Session, UsageLog, UsageLogBody, UsageLogLabel
from usage.services.logs import log_labels

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LIST_URL = "/api/usage-logs"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

LIST_FIELDS = {
    "id",
    "endpoint",
    "endpoint_slug",
    "session",
    "provider",
    "path",
    "model",
    "request_model",
    "streamed",
    "status_code",
    "outcome",
    "incomplete",
    "usage_missing",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_input_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "web_fetch_requests",
    "inference_geo",
    "service_tier",
    "cost_cents",
    "unpriced",
    "started_at",
    "duration_ms",
    "ttfb_ms",
    "upstream_request_id",
    "user_agent",
    "key_hint",
    "claude_code_session_id",
    "person",
    "person_source",
    "agent_id",
    "parent_agent_id",
    "request_class",
    "agent_type",
    "tags",
    "properties",
}


def detail_url(log_id) -> str:
    return f"/api/usage-logs/{log_id}"


def error(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["error"]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def staging(org):
    return ProxyEndpoint.objects.create(organization=org, name="Staging", slug="staging")


@pytest.fixture
def globex_endpoint(other_org):
    return ProxyEndpoint.objects.create(organization=other_org, name="Globex", slug="globex")


def make_log(
    endpoint: ProxyEndpoint,
    *,
    started_at: datetime = T0,
    request: bytes | None = None,
    response: bytes | None = None,
    content_type: str = "application/json",
    truncated: tuple[bool, bool] = (False, False),
    **fields,
) -> UsageLog:
    """A log written straight with the ORM; bodies zlib-compressed as the writer stores them."""
    values = dict(
        provider="anthropic",
        path="/v1/messages",
        model="claude-sonnet-4-6",
        request_model="claude-sonnet-4-6",
        status_code=200,
        input_tokens=2095,
        output_tokens=503,
        cost_cents=Decimal("1.383"),
        duration_ms=1200,
        ttfb_ms=300,
    )
    values.update(fields)
    log = UsageLog.objects.create(
        id=uuid.uuid4(),
        organization_id=endpoint.organization_id,
        endpoint=endpoint,
        endpoint_slug=endpoint.slug,
        started_at=started_at,
        **values,
    )
    if request is not None or response is not None:
        request, response = request or b"", response or b""
        UsageLogBody.objects.create(
            log=log,
            request_body=zlib.compress(request),
            response_body=zlib.compress(response),
            request_size=len(request) + (1000 if truncated[0] else 0),
            response_size=len(response) + (1000 if truncated[1] else 0),
            request_truncated=truncated[0],
            response_truncated=truncated[1],
            response_content_type=content_type,
        )
    return log


def labelled_log(endpoint: ProxyEndpoint, **fields) -> UsageLog:
    """A log with its tag and property labels, as the writer stores them."""
    log = make_log(endpoint, **fields)
    UsageLogLabel.objects.bulk_create(log_labels(log))
    return log


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


# --- list ---------------------------------------------------------------------------


def test_it_lists_the_organizations_logs_newest_first_with_every_field(api_client, endpoint):
    old = make_log(endpoint, started_at=T0)
    new = make_log(
        endpoint,
        started_at=T0 + timedelta(minutes=5),
        model="claude-haiku-4-5-20251001",
        request_model="claude-haiku-4-5",
        streamed=True,
        input_tokens=25,
        output_tokens=15,
        cache_write_tokens=3000,
        cache_write_5m_tokens=1000,
        cache_write_1h_tokens=2000,
        cache_read_tokens=20000,
        reasoning_tokens=7,
        web_search_requests=2,
        web_fetch_requests=1,
        inference_geo="us",
        service_tier="standard",
        cost_cents=Decimal("0.0123456789"),
        upstream_request_id="req_1",
        user_agent="claude-cli/2.1.80",
        key_hint="4321",
        claude_code_session_id="cc-1",
        person="alice",
        person_source="header",
        agent_id="aef2b311553cc0957",
        request_class="subagent",
        agent_type="Explore",
        tags=["refactor"],
        properties={"repo": "codecosts"},
    )

    response = api_client.get(LIST_URL)

    assert response.status_code == 200
    body = response.json()
    assert (body["nextCursor"], body["hasMore"]) == (None, False)
    assert [item["id"] for item in body["items"]] == [str(new.id), str(old.id)]
    item = body["items"][0]
    assert set(item) == LIST_FIELDS
    assert item == {
        "id": str(new.id),
        "endpoint": str(endpoint.id),
        "endpoint_slug": "acme-app",
        "session": None,
        "provider": "anthropic",
        "path": "/v1/messages",
        "model": "claude-haiku-4-5-20251001",
        "request_model": "claude-haiku-4-5",
        "streamed": True,
        "status_code": 200,
        "outcome": "ok",
        "incomplete": False,
        "usage_missing": False,
        "error_type": "",
        "input_tokens": 25,
        "output_tokens": 15,
        "cache_creation_input_tokens": 3000,
        "cache_write_5m_tokens": 1000,
        "cache_write_1h_tokens": 2000,
        "cache_read_input_tokens": 20000,
        "reasoning_tokens": 7,
        "web_search_requests": 2,
        "web_fetch_requests": 1,
        "inference_geo": "us",
        "service_tier": "standard",
        "cost_cents": "0.0123456789",
        "unpriced": False,
        "started_at": "2026-03-01T12:05:00Z",
        "duration_ms": 1200,
        "ttfb_ms": 300,
        "upstream_request_id": "req_1",
        "user_agent": "claude-cli/2.1.80",
        "key_hint": "4321",
        "claude_code_session_id": "cc-1",
        "person": "alice",
        "person_source": "header",
        "agent_id": "aef2b311553cc0957",
        "parent_agent_id": "",
        "request_class": "subagent",
        "agent_type": "Explore",
        "tags": ["refactor"],
        "properties": {"repo": "codecosts"},
    }
    assert body["items"][1]["cost_cents"] == "1.383"


def test_an_unpriced_log_has_a_null_cost_and_a_refused_one_costs_zero(api_client, endpoint):
    make_log(endpoint, model="mystery-model", cost_cents=None, unpriced=True)
    make_log(
        endpoint,
        started_at=T0 + timedelta(seconds=1),
        status_code=400,
        outcome="upstream_error",
        input_tokens=0,
        output_tokens=0,
        cost_cents=Decimal(0),
    )

    refused, unpriced = api_client.get(LIST_URL).json()["items"]

    assert (unpriced["cost_cents"], unpriced["unpriced"]) == (None, True)
    assert (refused["cost_cents"], refused["unpriced"]) == ("0", False)


def test_a_log_in_a_session_names_the_session(api_client, org, endpoint):
    session = Session.objects.create(organization=org, name="Feature X", started_at=T0)
    make_log(endpoint, session=session)

    assert api_client.get(LIST_URL).json()["items"][0]["session"] == str(session.id)


def test_the_list_never_reads_the_bodies(api_client, endpoint):
    for minute in range(3):
        make_log(
            endpoint,
            started_at=T0 + timedelta(minutes=minute),
            request=b'{"secret": "request"}',
            response=b'{"secret": "response"}',
        )

    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(LIST_URL)

    assert len(response.json()["items"]) == 3
    assert b"secret" not in response.content
    for item in response.json()["items"]:
        assert not {"request_body", "response_body", "response_message"} & set(item)
    log_queries = [q["sql"] for q in queries.captured_queries if "usage_usagelog" in q["sql"]]
    assert len(log_queries) == 1
    assert "usage_usagelogbody" not in log_queries[0]
    # Nor the long error text: the list selects only its own columns.
    assert "error_message" not in log_queries[0]


def test_the_number_of_queries_does_not_grow_with_the_page(api_client, endpoint):
    make_log(endpoint)
    api_client.get(LIST_URL)  # the key's first use of the hour writes last_used_at
    with CaptureQueriesContext(connection) as one:
        api_client.get(LIST_URL)
    for second in range(1, 6):
        make_log(endpoint, started_at=T0 + timedelta(seconds=second))
    with CaptureQueriesContext(connection) as six:
        assert len(api_client.get(LIST_URL).json()["items"]) == 6

    assert len(six.captured_queries) == len(one.captured_queries)


def test_pages_follow_the_cursor_without_skipping_or_repeating_rows(api_client, endpoint):
    # Three logs share one timestamp: the id breaks the tie.
    logs = [make_log(endpoint, started_at=T0) for _ in range(3)]
    logs += [make_log(endpoint, started_at=T0 + timedelta(minutes=m)) for m in (1, 2)]
    expected = [
        str(log.id) for log in sorted(logs, key=lambda l: (l.started_at, l.id), reverse=True)
    ]

    seen, cursor, pages = [], "", 0
    while True:
        body = api_client.get(LIST_URL, {"limit": 2, "cursor": cursor}).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        if not body["hasMore"]:
            assert body["nextCursor"] is None
            break
        cursor = body["nextCursor"]

    assert seen == expected
    assert pages == 3


def test_a_new_call_does_not_shift_the_next_page(api_client, endpoint):
    logs = [make_log(endpoint, started_at=T0 + timedelta(minutes=m)) for m in range(4)]
    first = api_client.get(LIST_URL, {"limit": 2}).json()
    make_log(endpoint, started_at=T0 + timedelta(hours=1))

    second = api_client.get(LIST_URL, {"limit": 2, "cursor": first["nextCursor"]}).json()

    assert [item["id"] for item in second["items"]] == [str(logs[1].id), str(logs[0].id)]


# --- filters ------------------------------------------------------------------------


def test_it_filters_by_endpoint_id_or_slug(api_client, endpoint, staging):
    production_log = make_log(endpoint)
    staging_log = make_log(staging)

    assert ids(api_client.get(LIST_URL, {"endpoint": str(staging.id)})) == [str(staging_log.id)]
    assert ids(api_client.get(LIST_URL, {"endpoint": "acme-app"})) == [str(production_log.id)]
    assert ids(api_client.get(LIST_URL, {"endpoint": "no-such-endpoint"})) == []


def test_a_deleted_endpoints_calls_are_found_by_its_slug(api_client, endpoint):
    log = make_log(endpoint)
    endpoint.delete()

    assert ids(api_client.get(LIST_URL, {"endpoint": "acme-app"})) == [str(log.id)]
    assert api_client.get(LIST_URL).json()["items"][0]["endpoint"] is None


def test_it_filters_by_model_and_outcome(api_client, endpoint):
    sonnet = make_log(endpoint)
    haiku = make_log(endpoint, model="claude-haiku-4-5", started_at=T0 + timedelta(seconds=1))
    failed = make_log(
        endpoint, outcome="upstream_timeout", incomplete=True, started_at=T0 + timedelta(seconds=2)
    )

    assert ids(api_client.get(LIST_URL, {"model": "claude-haiku-4-5"})) == [str(haiku.id)]
    assert ids(api_client.get(LIST_URL, {"outcome": "ok"})) == [str(haiku.id), str(sonnet.id)]
    assert ids(api_client.get(LIST_URL, {"outcome": "upstream_timeout"})) == [str(failed.id)]
    assert (
        ids(api_client.get(LIST_URL, {"model": "claude-haiku-4-5", "outcome": "upstream_timeout"}))
        == []
    )


def test_it_filters_by_session_or_by_no_session(api_client, org, endpoint):
    session = Session.objects.create(organization=org, name="Feature X", started_at=T0)
    inside = make_log(endpoint, session=session)
    outside = make_log(endpoint, started_at=T0 + timedelta(seconds=1))

    assert ids(api_client.get(LIST_URL, {"session": str(session.id)})) == [str(inside.id)]
    assert ids(api_client.get(LIST_URL, {"session": "none"})) == [str(outside.id)]


def test_it_filters_by_tag_or_property_value_listing_each_log_once(api_client, endpoint):
    both = labelled_log(
        endpoint, started_at=T0, tags=["ci", "prod"], properties={"repo": "api", "ticket": "ENG-1"}
    )
    ci = labelled_log(endpoint, started_at=T0 + timedelta(minutes=1), tags=["ci"], properties={"repo": "web"})
    bare = labelled_log(endpoint, started_at=T0 + timedelta(minutes=2), properties={"ci": "x"})

    assert ids(api_client.get(LIST_URL, {"tag": "ci"})) == [str(ci.id), str(both.id)]
    assert ids(api_client.get(LIST_URL, {"tag": "prod"})) == [str(both.id)]
    assert ids(api_client.get(LIST_URL, {"property": "repo:api"})) == [str(both.id)]
    assert ids(api_client.get(LIST_URL, {"property": "ci:x"})) == [str(bare.id)]
    assert ids(api_client.get(LIST_URL, {"tag": "ci", "property": "repo:web"})) == [str(ci.id)]
    assert ids(api_client.get(LIST_URL, {"tag": "ci", "since": iso(T0 + timedelta(seconds=30))})) == [
        str(ci.id)
    ]


def test_none_finds_the_logs_without_that_tag_or_property(api_client, endpoint):
    tagged = labelled_log(endpoint, started_at=T0, tags=["ci"], properties={"repo": "api"})
    other = labelled_log(endpoint, started_at=T0 + timedelta(minutes=1), properties={"ticket": "ENG-1"})
    bare = labelled_log(endpoint, started_at=T0 + timedelta(minutes=2))

    assert ids(api_client.get(LIST_URL, {"tag": "(none)"})) == [str(bare.id), str(other.id)]
    assert ids(api_client.get(LIST_URL, {"property": "repo:(none)"})) == [str(bare.id), str(other.id)]
    assert ids(api_client.get(LIST_URL, {"property": "ticket:(none)"})) == [str(bare.id), str(tagged.id)]


def test_pages_of_a_tag_follow_the_cursor(api_client, endpoint):
    logs = [labelled_log(endpoint, started_at=T0 + timedelta(minutes=i), tags=["ci"]) for i in range(3)]
    labelled_log(endpoint, started_at=T0 + timedelta(minutes=1, seconds=30), tags=["prod"])

    first = api_client.get(LIST_URL, {"tag": "ci", "limit": 2}).json()
    second = api_client.get(LIST_URL, {"tag": "ci", "limit": 2, "cursor": first["nextCursor"]}).json()

    assert [item["id"] for item in first["items"] + second["items"]] == [
        str(log.id) for log in reversed(logs)
    ]
    assert second["nextCursor"] is None


def test_since_is_inclusive_and_until_exclusive_for_date_times(api_client, endpoint):
    at_since = make_log(endpoint, started_at=T0)
    before = make_log(endpoint, started_at=T0 - timedelta(microseconds=1))
    at_until = make_log(endpoint, started_at=T0 + timedelta(hours=1))
    inside = make_log(endpoint, started_at=T0 + timedelta(minutes=59, seconds=59))

    response = api_client.get(
        LIST_URL, {"since": "2026-03-01T12:00:00Z", "until": "2026-03-01T13:00:00Z"}
    )

    assert ids(response) == [str(inside.id), str(at_since.id)]
    assert str(before.id) not in ids(response) and str(at_until.id) not in ids(response)


def test_a_date_means_the_whole_utc_day_at_either_end(api_client, endpoint):
    last_of_february = make_log(endpoint, started_at=datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC))
    first = make_log(endpoint, started_at=datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    last = make_log(endpoint, started_at=datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC))
    next_day = make_log(endpoint, started_at=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))

    one_day = api_client.get(LIST_URL, {"since": "2026-03-01", "until": "2026-03-01"})
    from_march = api_client.get(LIST_URL, {"since": "2026-03-01"})
    to_february = api_client.get(LIST_URL, {"until": "2026-02-28"})

    assert ids(one_day) == [str(last.id), str(first.id)]
    assert ids(from_march) == [str(next_day.id), str(last.id), str(first.id)]
    assert ids(to_february) == [str(last_of_february.id)]


def test_a_date_time_with_an_offset_or_none_is_understood(api_client, endpoint):
    log = make_log(endpoint, started_at=T0)

    # 13:00+01:00 is 12:00Z; a naive date-time is UTC; an unencoded "+" arrives as a space.
    assert ids(api_client.get(LIST_URL, {"since": "2026-03-01T13:00:00+01:00"})) == [str(log.id)]
    assert ids(api_client.get(LIST_URL, {"since": "2026-03-01T12:00:01"})) == []
    assert ids(api_client.get(f"{LIST_URL}?until=2026-03-01T13:00:01+01:00")) == [str(log.id)]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"outcome": "great"}, "outcome"),
        ({"session": "not-a-uuid"}, "session"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ({"endpoint": "no/such"}, "endpoint"),
        ({"endpoint": "x" * 64}, "endpoint"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_the_parameter(api_client, endpoint, params, parameter):
    response = api_client.get(LIST_URL, params)

    assert response.status_code == 400
    body = error(response)
    assert body["type"] == "invalid_request_error"
    assert list(body["fields"]) == [parameter]
    assert body["message"].startswith(f"{parameter} ")


def test_the_400_for_an_outcome_lists_the_outcomes(api_client, endpoint):
    message = error(api_client.get(LIST_URL, {"outcome": "great"}))["message"]

    assert message == (
        "outcome must be one of ok, upstream_error, client_disconnected, upstream_timeout, "
        "upstream_unreachable, response_too_large, interrupted."
    )


# --- authentication and isolation ---------------------------------------------------


def test_it_needs_credentials(anonymous_client, endpoint):
    log = make_log(endpoint)

    for url in (LIST_URL, detail_url(log.id)):
        response = anonymous_client.get(url)
        assert response.status_code == 401
        assert error(response)["type"] == "authentication_error"


def test_a_browser_session_sees_its_organizations_logs(owner_session_client, endpoint):
    log = make_log(endpoint)

    assert ids(owner_session_client.get(LIST_URL)) == [str(log.id)]
    assert owner_session_client.get(detail_url(log.id)).json()["id"] == str(log.id)


def test_another_organization_never_sees_the_logs(outsider_client, endpoint, globex_endpoint):
    acme = make_log(endpoint, request=b'{"a": 1}', response=b'{"b": 2}')
    globex = make_log(globex_endpoint)

    assert ids(outsider_client.get(LIST_URL)) == [str(globex.id)]
    assert ids(outsider_client.get(LIST_URL, {"endpoint": str(endpoint.id)})) == []
    assert ids(outsider_client.get(LIST_URL, {"endpoint": "acme-app"})) == []
    response = outsider_client.get(detail_url(acme.id))
    assert response.status_code == 404
    assert error(response)["type"] == "not_found_error"


def test_a_missing_or_malformed_id_is_a_404(api_client, endpoint):
    assert api_client.get(detail_url(uuid.uuid4())).status_code == 404
    assert api_client.get(detail_url("not-a-uuid")).status_code == 404


# --- detail -------------------------------------------------------------------------


def test_the_detail_has_the_parsed_bodies_sizes_and_cost_breakdown(api_client, endpoint):
    request = json.dumps(
        {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hello"}]}
    ).encode()
    response_body = (FIXTURES / "anthropic_nonstream_basic.json").read_bytes()
    log = make_log(
        endpoint,
        request=request,
        response=response_body,
        cache_write_tokens=3000,
        cache_write_5m_tokens=1000,
        cache_write_1h_tokens=2000,
        cache_read_tokens=20000,
        cost_cents=Decimal("3.558"),
        stop_reason="end_turn",
    )

    response = api_client.get(detail_url(log.id))

    assert response.status_code == 200
    body = response.json()
    assert LIST_FIELDS < set(body)
    assert body["id"] == str(log.id)
    assert body["request_body"] == json.loads(request)
    assert body["response_body"] == json.loads(response_body)
    assert body["response_message"] is None
    assert (body["request_size"], body["response_size"]) == (len(request), len(response_body))
    assert (body["request_truncated"], body["response_truncated"]) == (False, False)
    assert body["stop_reason"] == "end_turn"
    assert body["cost_cents"] == "3.558"
    assert body["cost_breakdown"] == {
        "input": "0.6285",
        "output": "0.7545",
        "cache_write_5m": "0.375",
        "cache_write_1h": "1.2",
        "cache_read": "0.6",
        "web_search": "0",
        "web_fetch": "0",
    }
    assert sum(Decimal(v) for v in body["cost_breakdown"].values()) == Decimal(body["cost_cents"])


def test_the_detail_of_a_stream_returns_the_raw_sse_and_the_reassembled_message(
    api_client, endpoint
):
    sse = (FIXTURES / "anthropic_stream_text.sse").read_bytes()
    log = make_log(
        endpoint,
        streamed=True,
        model="claude-haiku-4-5-20251001",
        input_tokens=25,
        output_tokens=15,
        cost_cents=Decimal("0.01"),
        request=b'{"model": "claude-haiku-4-5", "stream": true}',
        response=sse,
        content_type="text/event-stream; charset=utf-8",
    )

    body = api_client.get(detail_url(log.id)).json()

    assert body["response_body"] == sse.decode()
    message = body["response_message"]
    assert message["id"] == "msg_011CTzW1bH7sJ4kqPdcE6Rua"
    assert message["content"] == [{"type": "text", "text": "Hello!"}]
    assert message["stop_reason"] == "end_turn"
    assert (message["usage"]["input_tokens"], message["usage"]["output_tokens"]) == (25, 15)
    assert body["cost_breakdown"]["input"] == "0.0025"
    assert body["cost_breakdown"]["output"] == "0.0075"


@pytest.mark.parametrize(
    ("path", "fixture", "check"),
    [
        (
            "/v1/chat/completions",
            "openai_chat_stream_include_usage.sse",
            lambda message: message["object"] == "chat.completion" and message["choices"],
        ),
        (
            "/v1/responses",
            "openai_responses_stream.sse",
            lambda message: message["object"] == "response" and message["output"],
        ),
    ],
)
def test_an_openai_stream_is_reassembled_by_its_paths_reassembler(
    api_client, endpoint, path, fixture, check
):
    sse = (FIXTURES / fixture).read_bytes()
    log = make_log(
        endpoint,
        provider="openai",
        path=path,
        model="gpt-5",
        streamed=True,
        request=b'{"stream": true}',
        response=sse,
        content_type="text/event-stream",
    )

    message = api_client.get(detail_url(log.id)).json()["response_message"]

    assert check(message), message


def test_a_truncated_request_body_is_returned_as_text(api_client, endpoint):
    log = make_log(
        endpoint,
        request=b'{"model": "claude-sonnet-4-6", "messages": [{"role": "us',
        response=b"upstream said: not json",
        content_type="text/plain",
        truncated=(True, False),
    )

    body = api_client.get(detail_url(log.id)).json()

    assert body["request_body"] == '{"model": "claude-sonnet-4-6", "messages": [{"role": "us'
    assert body["request_truncated"] is True
    assert body["request_size"] == 1000 + len(
        '{"model": "claude-sonnet-4-6", "messages": [{"role": "us'
    )
    assert body["response_body"] == "upstream said: not json"


def test_a_log_without_bodies_has_null_bodies(api_client, endpoint):
    log = make_log(endpoint)

    body = api_client.get(detail_url(log.id)).json()

    assert (body["request_body"], body["response_body"], body["response_message"]) == (None,) * 3
    assert (body["request_size"], body["response_size"]) == (0, 0)


def test_an_unpriced_log_has_no_cost_breakdown(api_client, endpoint):
    log = make_log(endpoint, model="mystery-model", cost_cents=None, unpriced=True)

    body = api_client.get(detail_url(log.id)).json()

    assert (body["cost_cents"], body["cost_breakdown"]) == (None, None)


def test_the_detail_ignores_list_filters(api_client, endpoint):
    log = make_log(endpoint)

    response = api_client.get(detail_url(log.id), {"since": "2030-01-01", "outcome": "great"})

    assert response.status_code == 200


def test_the_cursor_is_opaque_base64_of_time_and_id(api_client, endpoint):
    logs = [make_log(endpoint, started_at=T0 + timedelta(minutes=m)) for m in range(2)]

    cursor = api_client.get(LIST_URL, {"limit": 1}).json()["nextCursor"]

    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    assert decoded == f"{logs[1].started_at.isoformat()}|{logs[1].id}"
