"""The usage summary: /api/usage/summary?group_by=endpoint|model|day|session&since=&until=."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from proxy.models import ProxyEndpoint
from usage.attribution import PROPERTY_PREFIX, TAGS_HEADER
from usage.models import Session, UsageDaily, UsageLog
from usage.records import TokenUsage, UsageRecord, record_from_payload, record_to_payload
from usage.services.logs import usage_log_record

URL = "/api/usage/summary"
DAY1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ZERO_TOTALS = {
    "calls": 0,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_write_5m_tokens": 0,
    "cache_write_1h_tokens": 0,
    "cache_read_tokens": 0,
    "cost_cents": "0",
}


def error(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["error"]


def record(
    endpoint: ProxyEndpoint,
    *,
    at: datetime,
    model: str = "claude-sonnet-4-6",
    tokens: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0),
    session_name: str = "",
    attribution: dict[str, str] | None = None,
) -> UsageLog:
    """Write a call through the usage writer, bodies compressed as the pipeline sends them."""
    input_tokens, output_tokens, cache_5m, cache_1h, cache_read = tokens
    usage = TokenUsage(
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_write_5m_tokens=cache_5m,
        cache_write_1h_tokens=cache_1h,
        cache_read_tokens=cache_read,
        seen=True,
        final=True,
    )
    raw = UsageRecord(
        id=str(uuid.uuid4()),
        organization_id=str(endpoint.organization_id),
        endpoint_id=str(endpoint.id),
        endpoint_slug=endpoint.slug,
        provider="anthropic",
        path="/v1/messages",
        started_at=at.timestamp(),
        duration_ms=1000,
        status_code=200,
        outcome="ok",
        request_model=model,
        usage=usage,
        session_name=session_name,
        attribution=attribution or {},
        request_body=json.dumps({"model": model, "messages": []}).encode(),
        response_body=b'{"type": "message"}',
    )
    return usage_log_record(record=record_from_payload(record_to_payload(raw)))


@pytest.fixture
def production(org):
    return ProxyEndpoint.objects.create(organization=org, name="Production", slug="production")


@pytest.fixture
def staging(org):
    return ProxyEndpoint.objects.create(organization=org, name="Staging", slug="staging")


@pytest.fixture
def calls(production, staging):
    """Five calls over two days, two endpoints, two models and one header session.

    Costs (cents per token: Sonnet 4.6 in 0.0003, out 0.0015, 5m 0.000375, 1h 0.0006,
    read 0.00003; Haiku 4.5 a third of that):
      a  day 1  production  sonnet  1000 in, 100 out                    0.45
      b  day 1  production  sonnet  0 in, 0 out, 1000 5m, 1000 1h, 10000 read  1.275
      c  day 1  staging     haiku   3000 in, 300 out    "Feature X"     0.45
      d  day 2  production  haiku   1000 in, 1000 out   "Feature X"     0.6
      e  day 2  staging     sonnet  100 in, 10 out                      0.045
    """
    return {
        "a": record(production, at=DAY1, tokens=(1000, 100, 0, 0, 0)),
        "b": record(production, at=DAY1 + timedelta(hours=1), tokens=(0, 0, 1000, 1000, 10000)),
        "c": record(
            staging,
            at=DAY1 + timedelta(hours=2),
            model="claude-haiku-4-5",
            tokens=(3000, 300, 0, 0, 0),
            session_name="Feature X",
        ),
        "d": record(
            production,
            at=DAY2,
            model="claude-haiku-4-5",
            tokens=(1000, 1000, 0, 0, 0),
            session_name="Feature X",
        ),
        "e": record(staging, at=DAY2 + timedelta(hours=1), tokens=(100, 10, 0, 0, 0)),
    }


ALL_TOTALS = {
    "calls": 5,
    "input_tokens": 5100,
    "output_tokens": 1410,
    "cache_write_5m_tokens": 1000,
    "cache_write_1h_tokens": 1000,
    "cache_read_tokens": 10000,
    "cost_cents": "2.82",
}


def summary(client, **params) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_fixture_calls_cost_what_the_docstring_says(calls):
    costs = {name: str(log.cost_cents.normalize()) for name, log in calls.items()}
    assert costs == {"a": "0.45", "b": "1.275", "c": "0.45", "d": "0.6", "e": "0.045"}


def test_it_sums_by_endpoint_with_the_endpoints_name(api_client, calls):
    body = summary(api_client, group_by="endpoint")

    assert body["group_by"] == "endpoint"
    assert (body["since"], body["until"]) == (None, None)
    assert body["items"] == [
        {
            "key": "production",
            "label": "Production",
            "calls": 3,
            "input_tokens": 2000,
            "output_tokens": 1100,
            "cache_write_5m_tokens": 1000,
            "cache_write_1h_tokens": 1000,
            "cache_read_tokens": 10000,
            "cost_cents": "2.325",
        },
        {
            "key": "staging",
            "label": "Staging",
            "calls": 2,
            "input_tokens": 3100,
            "output_tokens": 310,
            "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": 0,
            "cache_read_tokens": 0,
            "cost_cents": "0.495",
        },
    ]
    assert body["totals"] == ALL_TOTALS


def test_it_sums_by_model(api_client, calls):
    items = summary(api_client, group_by="model")["items"]

    assert [
        (i["key"], i["calls"], i["input_tokens"], i["output_tokens"], i["cost_cents"])
        for i in items
    ] == [
        ("claude-sonnet-4-6", 3, 1100, 110, "1.77"),
        ("claude-haiku-4-5", 2, 4000, 1300, "1.05"),
    ]
    assert "label" not in items[0]


def test_it_sums_by_day_oldest_first(api_client, calls):
    body = summary(api_client, group_by="day")

    assert [
        (i["key"], i["calls"], i["cache_read_tokens"], i["cost_cents"]) for i in body["items"]
    ] == [
        ("2026-03-01", 3, 10000, "2.175"),
        ("2026-03-02", 2, 0, "0.645"),
    ]
    assert body["totals"] == ALL_TOTALS


def test_it_sums_by_session_with_calls_outside_sessions_as_a_null_key(api_client, org, calls):
    feature_x = Session.objects.get(organization=org, name="Feature X")

    body = summary(api_client, group_by="session")

    assert body["items"] == [
        {
            "key": None,
            "label": None,
            "calls": 3,
            "input_tokens": 1100,
            "output_tokens": 110,
            "cache_write_5m_tokens": 1000,
            "cache_write_1h_tokens": 1000,
            "cache_read_tokens": 10000,
            "cost_cents": "1.77",
        },
        {
            "key": str(feature_x.id),
            "label": "Feature X",
            "calls": 2,
            "input_tokens": 4000,
            "output_tokens": 1300,
            "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": 0,
            "cache_read_tokens": 0,
            "cost_cents": "1.05",
        },
    ]
    assert body["totals"] == ALL_TOTALS


def test_a_session_is_summed_only_over_its_calls_in_the_range(api_client, org, calls):
    feature_x = Session.objects.get(organization=org, name="Feature X")

    items = summary(api_client, group_by="session", since="2026-03-02")["items"]

    assert [(i["key"], i["calls"], i["cost_cents"]) for i in items] == [
        (str(feature_x.id), 1, "0.6"),
        (None, 1, "0.045"),
    ]


@pytest.mark.parametrize("group_by", ["endpoint", "model", "day"])
def test_whole_days_are_read_from_the_daily_totals_not_the_logs(api_client, calls, group_by):
    with CaptureQueriesContext(connection) as queries:
        body = summary(api_client, group_by=group_by, since="2026-03-01", until="2026-03-02")

    assert body["totals"] == ALL_TOTALS
    assert not [q for q in queries.captured_queries if '"usage_usagelog"' in q["sql"]]
    assert [q for q in queries.captured_queries if '"usage_usagedaily"' in q["sql"]]


def test_a_date_range_is_whole_utc_days(api_client, calls):
    body = summary(api_client, group_by="endpoint", since="2026-03-02", until="2026-03-02")

    assert (body["since"], body["until"]) == ("2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z")
    assert [(i["key"], i["calls"], i["cost_cents"]) for i in body["items"]] == [
        ("production", 1, "0.6"),
        ("staging", 1, "0.045"),
    ]


def test_a_range_inside_a_day_is_summed_exactly_from_the_logs(api_client, calls):
    # 09:30 to 11:00 on day 1: calls b (10:00) and c (11:00 excluded) -> b only.
    body = summary(
        api_client, group_by="day", since="2026-03-01T09:30:00Z", until="2026-03-01T11:00:00Z"
    )

    assert [(i["key"], i["calls"], i["cost_cents"]) for i in body["items"]] == [
        ("2026-03-01", 1, "1.275")
    ]
    assert body["totals"]["cache_write_1h_tokens"] == 1000


def test_a_range_inside_a_day_by_endpoint_and_model(api_client, calls):
    by_endpoint = summary(api_client, group_by="endpoint", since="2026-03-01T10:30:00Z")
    by_model = summary(api_client, group_by="model", until="2026-03-01T10:30:00Z")

    # Highest cost first.
    assert [(i["key"], i["calls"], i["cost_cents"]) for i in by_endpoint["items"]] == [
        ("production", 1, "0.6"),
        ("staging", 2, "0.495"),
    ]
    assert [(i["key"], i["calls"], i["cost_cents"]) for i in by_model["items"]] == [
        ("claude-sonnet-4-6", 2, "1.725")
    ]


def test_by_tag_and_property_a_range_inside_a_day_matches_the_whole_days_rollups(
    api_client, production
):
    # Sonnet 4.6: 0.45, 0.045 and 0.6 cents; the first call counts under both its tags.
    record(
        production,
        at=DAY1,
        tokens=(1000, 100, 0, 0, 0),
        attribution={TAGS_HEADER: "ci,prod", PROPERTY_PREFIX + "repo": "api"},
    )
    record(production, at=DAY1 + timedelta(hours=1), tokens=(100, 10, 0, 0, 0), attribution={TAGS_HEADER: "ci"})
    record(production, at=DAY1 + timedelta(hours=2), tokens=(2000, 0, 0, 0, 0))
    hours = {"since": "2026-03-01T08:00:00Z", "until": "2026-03-01T23:00:00Z"}

    by_tag = summary(api_client, group_by="tag", **hours)["items"]
    by_repo = summary(api_client, group_by="property:repo", **hours)["items"]

    assert [(i["key"], i["calls"], i["cost_cents"]) for i in by_tag] == [
        (None, 1, "0.6"),
        ("ci", 2, "0.495"),
        ("prod", 1, "0.45"),
    ]
    assert [(i["key"], i["calls"], i["cost_cents"]) for i in by_repo] == [
        (None, 2, "0.645"),
        ("api", 1, "0.45"),
    ]
    day = {"since": "2026-03-01", "until": "2026-03-01"}
    assert summary(api_client, group_by="tag", **day)["items"] == by_tag
    assert summary(api_client, group_by="property:repo", **day)["items"] == by_repo


def test_a_range_from_an_hour_reads_its_whole_days_from_the_daily_totals(api_client, calls):
    # From 09:30 on day 1: b and c from the logs, all of day 2 (d, e) from the daily totals…
    params = {"group_by": "endpoint", "since": "2026-03-01T09:30:00Z", "until": "2026-03-02"}
    expected = [("production", 2, "1.875"), ("staging", 2, "0.495")]

    body = summary(api_client, **params)
    assert [(i["key"], i["calls"], i["cost_cents"]) for i in body["items"]] == expected
    assert body["totals"]["calls"] == 4

    # …which still count day 2's calls once their logs are gone.
    UsageLog.objects.filter(started_at__gte=DAY2).delete()
    body = summary(api_client, **params)
    assert [(i["key"], i["calls"], i["cost_cents"]) for i in body["items"]] == expected


def test_by_session_a_range_from_an_hour_names_its_sessions_as_whole_days_do(
    api_client, org, calls
):
    # Feature X: c (day 1, from the logs) and d (day 2, from the rollups), one row.
    hours = {"since": "2026-03-01T08:00:00Z", "until": "2026-03-02"}
    day = {"since": "2026-03-01", "until": "2026-03-02"}

    items = summary(api_client, group_by="session", **hours)["items"]

    assert [(i["key"], i["label"], i["calls"]) for i in items] == [
        (None, None, 3),
        (str(Session.objects.get(organization=org, name="Feature X").id), "Feature X", 2),
    ]
    assert summary(api_client, group_by="session", **day)["items"] == items


def test_a_deleted_endpoint_keeps_its_slug_as_key_and_label(api_client, production, calls):
    production.delete()

    items = summary(api_client, group_by="endpoint")["items"]

    assert (items[0]["key"], items[0]["label"], items[0]["calls"]) == (
        "production",
        "production",
        3,
    )


def test_with_no_calls_the_totals_are_zero(api_client, org):
    body = summary(api_client, group_by="model")

    assert (body["items"], body["totals"]) == ([], ZERO_TOTALS)


def test_the_daily_totals_are_counted_once_per_call(calls, org):
    rows = UsageDaily.objects.filter(organization=org)

    assert sum(row.calls for row in rows) == 5
    assert rows.count() == 4  # (day 1, production, sonnet), (day 1, staging, haiku), ...


# --- validation, authentication, isolation ----------------------------------------


def test_a_missing_group_by_is_a_400_listing_the_allowed_values(api_client):
    response = api_client.get(URL)

    assert response.status_code == 400
    body = error(response)
    assert body["fields"] == {
        "group_by": ["group_by is required: one of endpoint, model, day, session, person, request_class, agent_type, tag or property:<name>"]
    }
    assert body["message"] == "group_by is required: one of endpoint, model, day, session, person, request_class, agent_type, tag or property:<name>."


@pytest.mark.parametrize("value", ["week", "", "ENDPOINT"])
def test_an_invalid_group_by_is_a_400_listing_the_allowed_values(api_client, value):
    response = api_client.get(URL, {"group_by": value})

    assert response.status_code == 400
    assert error(response)["message"] == "group_by must be one of endpoint, model, day, session, person, request_class, agent_type, tag or property:<name>."


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"since": "last week"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-02T00:00:00Z"}, "until"),
    ],
)
def test_an_invalid_range_is_a_400_naming_the_parameter(api_client, params, parameter):
    response = api_client.get(URL, {"group_by": "day", **params})

    assert response.status_code == 400
    assert list(error(response)["fields"]) == [parameter]


def test_it_needs_credentials(anonymous_client):
    response = anonymous_client.get(URL, {"group_by": "day"})

    assert response.status_code == 401
    assert error(response)["type"] == "authentication_error"


def test_a_browser_session_gets_its_organizations_summary(owner_session_client, calls):
    assert summary(owner_session_client, group_by="day")["totals"] == ALL_TOTALS


@pytest.mark.parametrize("group_by", ["endpoint", "model", "day", "session"])
def test_another_organization_sees_only_its_own_calls(outsider_client, other_org, calls, group_by):
    globex = ProxyEndpoint.objects.create(organization=other_org, name="Globex", slug="globex")
    record(globex, at=DAY1, tokens=(1000, 0, 0, 0, 0), session_name="Feature X")

    body = summary(outsider_client, group_by=group_by)

    assert body["totals"] == {**ZERO_TOTALS, "calls": 1, "input_tokens": 1000, "cost_cents": "0.3"}
    assert len(body["items"]) == 1
    if group_by == "session":
        globex_session = Session.objects.get(organization=other_org)
        assert body["items"][0]["key"] == str(globex_session.id)
