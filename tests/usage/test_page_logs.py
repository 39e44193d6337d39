"""The Logs page: /logs, filters and keyset paging; bodies never loaded.

`record_call` (used by the other page tests too) writes a call the way the proxy's worker
does, through usage_log_record, so logs, sessions and daily totals agree.
"""

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from codecosts.keyset import cursor_encode
from proxy.services import proxy_endpoint_create
from tests.factories import usage_record
from usage.models import UsageLog
from usage.records import TokenUsage
from usage.services.logs import usage_log_record

pytestmark = pytest.mark.django_db

SONNET_REQUEST = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1024,
    "system": "You explain caching briefly.",
    "messages": [{"role": "user", "content": "What does prompt caching do?"}],
}


def record_call(
    endpoint,
    *,
    started_at: datetime,
    model: str = "claude-sonnet-4-6",
    input_tokens: int = 2095,
    output_tokens: int = 503,
    cache_read_tokens: int = 0,
    cache_write_5m_tokens: int = 0,
    status_code: int = 200,
    outcome: str = "ok",
    request: dict | None = None,
    response: bytes | None = None,
    content_type: str = "application/json",
    streamed: bool = False,
    session_name: str = "",
    provider: str = "anthropic",
    path: str = "/v1/messages",
) -> UsageLog:
    """Write one proxied call as the usage worker would, and return its log."""
    request = request if request is not None else {**SONNET_REQUEST, "model": model}
    usage = TokenUsage(
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_5m_tokens=cache_write_5m_tokens,
        seen=status_code < 400,
        final=status_code < 400,
        stop_reason="end_turn" if status_code < 400 else "",
    )
    request_bytes = orjson.dumps(request)
    response_bytes = response if response is not None else b'{"type":"message","content":[]}'
    log = usage_log_record(
        record=usage_record(
            endpoint=endpoint,
            provider=provider,
            path=path,
            started_at=started_at.timestamp(),
            duration_ms=1830,
            ttfb_ms=412,
            status_code=status_code,
            outcome=outcome,
            streamed=streamed,
            request_model=model,
            usage=usage,
            key_hint="AbCd",
            session_name=session_name,
            response_content_type=content_type,
            request_body=request_bytes,
            response_body=response_bytes,
            request_size=len(request_bytes),
            response_size=len(response_bytes),
        )
    )
    assert log is not None
    return UsageLog.objects.select_related("session").get(id=log.id)


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A moment on a day of November 2026 (UTC)."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def other_endpoint(other_org):
    return proxy_endpoint_create(organization=other_org, name="Globex app", slug="globex-app")


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def test_logs_page_requires_login(db):
    response = Client().get("/logs")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/logs"


def test_a_member_sees_the_organizations_calls_newest_first(member_client, endpoint):
    older = record_call(endpoint, started_at=at(20, 9), model="claude-haiku-4-5")
    newer = record_call(endpoint, started_at=at(21, 9), model="claude-sonnet-4-6")

    response = member_client.get("/logs")

    assert response.status_code == 200
    assert [log.id for log in response.context["logs"]] == [newer.id, older.id]
    html = response.content.decode()
    assert f'href="/logs/{newer.id}"' in html
    assert "claude-haiku-4-5" in html
    # 2095 input tokens at $3/MTok + 503 output at $15/MTok = $0.01383.
    assert "$0.0138" in html


def test_it_never_shows_another_organizations_calls(owner_client, endpoint, other_endpoint):
    record_call(endpoint, started_at=at(20))
    foreign = record_call(other_endpoint, started_at=at(21))

    response = owner_client.get("/logs")

    assert foreign.id not in [log.id for log in response.context["logs"]]
    assert "globex-app" not in response.content.decode()


def test_it_filters_by_endpoint_model_outcome_and_dates(owner_client, org, endpoint):
    second = proxy_endpoint_create(organization=org, name="Batch", slug="acme-batch")
    a = record_call(endpoint, started_at=at(18), model="claude-haiku-4-5")
    b = record_call(second, started_at=at(19), model="claude-sonnet-4-6")
    c = record_call(
        endpoint,
        started_at=at(20),
        status_code=529,
        outcome="upstream_error",
        input_tokens=0,
        output_tokens=0,
    )

    def ids(query):
        response = owner_client.get(f"/logs?{query}")
        assert response.status_code == 200
        return [log.id for log in response.context["logs"]]

    assert ids("endpoint=acme-batch") == [b.id]
    assert ids("model=claude-haiku-4-5") == [a.id]
    assert ids("outcome=upstream_error") == [c.id]
    assert ids("since=2026-11-19&until=2026-11-19") == [b.id]
    assert ids("endpoint=acme-app&since=2026-11-19") == [c.id]


def test_it_filters_by_session(owner_client, endpoint):
    in_session = record_call(endpoint, started_at=at(20), session_name="billing refactor")
    record_call(endpoint, started_at=at(21))
    session = in_session.session

    response = owner_client.get(f"/logs?session={session.id}")

    assert [log.id for log in response.context["logs"]] == [in_session.id]
    assert "billing refactor" in response.content.decode()


def test_filtering_by_another_organizations_session_is_404(owner_client, other_endpoint):
    foreign = record_call(other_endpoint, started_at=at(20), session_name="globex secret")

    response = owner_client.get(f"/logs?session={foreign.session_id}")

    assert response.status_code == 404


def test_pages_follow_the_cursor_without_skipping_rows_sharing_a_timestamp(
    owner_client, endpoint, monkeypatch
):
    monkeypatch.setattr("usage.views.LOG_PAGE_SIZE", 2)
    same_moment = [record_call(endpoint, started_at=at(20)) for _ in range(3)]
    earliest = record_call(endpoint, started_at=at(19))
    expected = sorted(same_moment, key=lambda log: log.id, reverse=True) + [earliest]

    first = owner_client.get("/logs")
    second = owner_client.get(f"/logs?{first.context['next_query']}")
    third = owner_client.get(f"/logs?{second.context['next_query']}")

    seen = [log.id for page in (first, second) for log in page.context["logs"]]
    assert seen == [log.id for log in expected]
    assert second.context["next_query"] == ""
    assert third.status_code == 200  # same as page two: the query repeats its cursor
    assert 'rel="next"' in first.content.decode()


def test_the_cursor_keeps_the_filters(owner_client, endpoint, monkeypatch):
    monkeypatch.setattr("usage.views.LOG_PAGE_SIZE", 1)
    record_call(endpoint, started_at=at(20), model="claude-haiku-4-5")
    record_call(endpoint, started_at=at(21), model="claude-haiku-4-5")

    first = owner_client.get("/logs?model=claude-haiku-4-5")

    assert first.context["next_query"].startswith("model=claude-haiku-4-5&cursor=")


def test_paging_uses_a_keyset_condition_never_offset_and_never_reads_bodies(owner_client, endpoint):
    log = record_call(endpoint, started_at=at(20))
    cursor = cursor_encode(at(21), uuid.uuid4())

    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get(f"/logs?cursor={cursor}")

    assert [item.id for item in response.context["logs"]] == [log.id]
    sql = " ".join(query["sql"] for query in queries.captured_queries).lower()
    assert "offset" not in sql
    assert "usagelogbody" not in sql
    assert "request_body" not in sql


def test_a_malformed_cursor_is_a_400(owner_client, endpoint):
    response = owner_client.get("/logs?cursor=not-base64!")

    assert response.status_code == 400


def test_a_new_organization_sees_an_empty_list(owner_client):
    response = owner_client.get("/logs")

    assert response.status_code == 200
    assert "No call matches" in response.content.decode()


# --- Attribution filters ------------------------------------------------------------------


def record_attributed(
    endpoint, *, started_at: datetime, user_agent: str = "claude-cli/2.1.80", **headers
) -> UsageLog:
    """A call with these attribution headers (x-codecosts-user=…: keyword user=…)."""
    names = {
        "user": "x-codecosts-user",
        "tags": "x-codecosts-tags",
        "agent": "x-claude-code-agent-id",
        "parent": "x-claude-code-parent-agent-id",
        "request_class": "x-claude-code-request-class",
        "agent_type": "x-claude-code-agent-type",
    }
    attribution = {
        names.get(key, "x-codecosts-property-" + key.removeprefix("property_")): value
        for key, value in headers.items()
    }
    log = usage_log_record(
        record=usage_record(
            endpoint=endpoint,
            started_at=started_at.timestamp(),
            user_agent=user_agent,
            attribution=attribution,
        )
    )
    assert log is not None
    return log


@pytest.fixture
def attributed(endpoint):
    return {
        "alice_explore": record_attributed(
            endpoint, started_at=at(20, 9), user="alice", agent="a1", agent_type="Explore", tags="db,perf",
            property_repo="web",
        ),
        "alice_main": record_attributed(
            endpoint, started_at=at(20, 10), user="alice", tags="db", property_repo="api"
        ),
        "bob_compaction": record_attributed(
            endpoint, started_at=at(21, 9), user="bob", request_class="compaction"
        ),
        "nobody": record_attributed(endpoint, started_at=at(21, 10), user_agent="python-httpx/0.28"),
    }


def test_it_filters_by_person_request_class_agent_type_agent_tag_and_property(owner_client, attributed):
    ids = {name: log.id for name, log in attributed.items()}

    def found(query):
        response = owner_client.get(f"/logs?{query}")
        assert response.status_code == 200
        return {log.id for log in response.context["logs"]}

    assert found("person=alice") == {ids["alice_explore"], ids["alice_main"]}
    assert found("person=(none)") == {ids["nobody"]}
    assert found("request_class=subagent") == {ids["alice_explore"]}
    assert found("request_class=main") == {ids["alice_main"]}
    assert found("request_class=compaction") == {ids["bob_compaction"]}
    assert found("request_class=%28none%29") == {ids["nobody"]}
    assert found("agent_type=Explore") == {ids["alice_explore"]}
    assert found("agent_type=(none)") == {ids["alice_main"], ids["bob_compaction"], ids["nobody"]}
    assert found("agent=a1") == {ids["alice_explore"]}
    assert found("tag=db") == {ids["alice_explore"], ids["alice_main"]}
    assert found("tag=perf") == {ids["alice_explore"]}
    assert found("tag=(none)") == {ids["bob_compaction"], ids["nobody"]}
    assert found("property=repo:web") == {ids["alice_explore"]}
    assert found("property=REPO%3Aapi") == {ids["alice_main"]}  # names are lowercase
    assert found("property=repo:(none)") == {ids["bob_compaction"], ids["nobody"]}
    assert found("property=repo") == set(ids.values())  # no value: no filter
    # Filters combine, with each other and with the dates.
    assert found("person=alice&tag=perf") == {ids["alice_explore"]}
    assert found("person=alice&since=2026-11-21") == set()


def test_the_attribution_filters_show_as_chips_that_remove_them(owner_client, attributed):
    response = owner_client.get("/logs?person=alice&tag=db&property=repo:(none)&model=claude-sonnet-4-6")

    chips = [(chip["label"], chip["value"], chip["remove"]) for chip in response.context["chips"]]
    assert chips == [
        ("Person", "alice", "model=claude-sonnet-4-6&tag=db&property=repo%3A%28none%29"),
        ("Tag", "db", "model=claude-sonnet-4-6&person=alice&property=repo%3A%28none%29"),
        ("repo", "(none)", "model=claude-sonnet-4-6&person=alice&tag=db"),
    ]
    html = response.content.decode()
    assert 'id="filter-chips"' in html
    assert "Person: <strong>alice</strong>" in html and "repo: <em>not set</em>" in html
    assert 'href="/logs?model=claude-sonnet-4-6&amp;tag=db&amp;property=repo%3A%28none%29"' in html
    # The filter form keeps them, and so do the CSV link and the next page.
    assert '<input type="hidden" name="person" value="alice">' in html
    assert '<input type="hidden" name="property" value="repo:(none)">' in html
    assert (
        'href="/logs/export.csv?model=claude-sonnet-4-6&amp;person=alice&amp;tag=db&amp;'
        'property=repo%3A%28none%29"' in html
    )
    assert response.context["filters"]["person"] == "alice"


def test_the_cursor_keeps_the_attribution_filters(owner_client, attributed, monkeypatch):
    monkeypatch.setattr("usage.views.LOG_PAGE_SIZE", 1)

    first = owner_client.get("/logs?person=alice")
    second = owner_client.get(f"/logs?{first.context['next_query']}")

    assert first.context["next_query"].startswith("person=alice&cursor=")
    assert [log.id for log in second.context["logs"]] == [attributed["alice_explore"].id]


def test_a_row_shows_its_person_agent_and_tags(owner_client, attributed):
    html = owner_client.get("/logs").content.decode()

    assert '<a href="/logs?person=alice">alice</a>' in html
    assert '<a class="badge" href="/logs?agent=a1" title="Agent a1">Explore</a>' in html
    assert '<a class="badge tag" href="/logs?tag=perf">perf</a>' in html
    assert '<span class="badge">compaction</span>' in html


def test_a_list_with_attribution_filters_makes_no_query_per_row(
    owner_client, endpoint, django_assert_max_num_queries
):
    for hour in range(3):
        record_attributed(endpoint, started_at=at(20, hour), user="alice", tags="db", property_repo="web")
    with CaptureQueriesContext(connection) as few:
        owner_client.get("/logs?person=alice&tag=db&property=repo:web")
    for hour in range(3, 20):
        record_attributed(endpoint, started_at=at(20, hour), user="alice", tags="db", property_repo="web")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = owner_client.get("/logs?person=alice&tag=db&property=repo:web")

    assert len(response.context["logs"]) == 20


def test_an_outsider_filtering_by_this_organizations_labels_sees_nothing(
    attributed, outsider, other_endpoint
):
    record_attributed(other_endpoint, started_at=at(20), user="gina", tags="db")
    client = Client()
    client.force_login(outsider)

    response = client.get("/logs?tag=db")

    assert [log.person for log in response.context["logs"]] == ["gina"]
    assert client.get("/logs?person=alice").context["logs"] == []


def sqlite_can_use(sql: str, index: str) -> bool:
    """Whether SQLite can answer a query on the logs (as CaptureQueriesContext shows it,
    parameters inlined) through `index`: INDEXED BY refuses a partial index whose condition
    the query does not state. Which index it then picks depends on the table's statistics."""
    from django.db.utils import OperationalError

    forced = sql.replace('FROM "usage_usagelog"', f'FROM "usage_usagelog" INDEXED BY {index}', 1)
    try:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + forced)
    except OperationalError as error:
        assert "no query solution" in str(error)
        return False
    return True


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's planner (PostgreSQL proves the condition itself)"
)
def test_the_agent_and_agent_type_filters_can_read_their_partial_indexes(owner_client, attributed):
    indexes = {"agent=a1": "usagelog_org_agent", "agent_type=Explore": "usagelog_org_agenttype"}
    for query, index in indexes.items():
        with CaptureQueriesContext(connection) as queries:
            response = owner_client.get(f"/logs?{query}")
        assert [log.id for log in response.context["logs"]] == [attributed["alice_explore"].id]
        [listing] = [q["sql"] for q in queries.captured_queries if 'FROM "usage_usagelog"' in q["sql"]]
        # Without it, SQLite walks every log of the organization to list a rare agent's calls.
        assert sqlite_can_use(listing, index)


def test_the_not_set_label_filters_are_anti_joins_never_not_in(owner_client, attributed):
    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get("/logs?tag=(none)&property=repo:(none)")

    logs = [log.id for log in response.context["logs"]]
    assert logs == [attributed["nobody"].id, attributed["bob_compaction"].id]
    [listing] = [q["sql"] for q in queries.captured_queries if 'FROM "usage_usagelog"' in q["sql"]]
    # PostgreSQL runs a NOT IN over a large subquery once per log (measured: 25 s for a
    # million logs); NOT EXISTS is an anti-join.
    assert listing.count("NOT (EXISTS(") == 2
    assert '"usage_usagelog"."id" IN' not in listing
