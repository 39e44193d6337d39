"""CSV export of the filtered logs: /logs/export.csv."""

import csv
import io
import json

import pytest
from django.db.models.query import QuerySet
from django.http import StreamingHttpResponse
from django.test import Client

from proxy.services import proxy_endpoint_create
from tests.usage.test_page_logs import at, record_attributed, record_call

pytestmark = pytest.mark.django_db

HEADER = (
    "started_at,id,endpoint,provider,path,model,outcome,status_code,streamed,session,"
    "input_tokens,output_tokens,cache_write_5m_tokens,cache_write_1h_tokens,cache_read_tokens,"
    "reasoning_tokens,web_search_requests,cost_usd,ttfb_ms,duration_ms,"
    "person,person_source,agent_id,parent_agent_id,request_class,agent_type,tags,properties"
)


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


def _csv(response) -> list[str]:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode().splitlines()


def _csv_rows(response) -> list[dict]:
    """The export read as a spreadsheet would (a cell may hold a CR: no splitlines)."""
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_export_is_exact_for_every_column(member_client, endpoint):
    haiku = record_call(
        endpoint,
        started_at=at(20, 9, 30),
        model="claude-haiku-4-5",
        input_tokens=25,
        output_tokens=15,
        session_name="=cmd|' /C calc'!A0",
    )
    sonnet = record_call(endpoint, started_at=at(21, 14, 5, 7), cache_read_tokens=1000)

    response = member_client.get("/logs/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="codecosts-logs-')
    # Sonnet 4.6: 2095 × $3 + 503 × $15 + 1000 × $0.30 per MTok = $0.01413.
    # Haiku 4.5: 25 × $1 + 15 × $5 per MTok = $0.0001. The session name starts with "=",
    # so it gets a leading quote: spreadsheets show it instead of running it.
    assert _csv(response) == [
        HEADER,
        f"2026-11-21T14:05:07+00:00,{sonnet.id},acme-app,anthropic,/v1/messages,"
        "claude-sonnet-4-6,ok,200,false,,2095,503,0,0,1000,0,0,0.01413,412,1830,,,,,main,,,{}",
        f"2026-11-20T09:30:00+00:00,{haiku.id},acme-app,anthropic,/v1/messages,"
        "claude-haiku-4-5,ok,200,false,'=cmd|' /C calc'!A0,25,15,0,0,0,0,0,0.0001,412,1830,,,,,main,,,{}",
    ]


def test_the_export_follows_the_filters(member_client, endpoint):
    record_call(endpoint, started_at=at(20), model="claude-haiku-4-5")
    kept = record_call(endpoint, started_at=at(21), model="claude-sonnet-4-6")

    lines = _csv(member_client.get("/logs/export.csv?model=claude-sonnet-4-6&since=2026-11-21"))

    assert len(lines) == 2
    assert lines[1].split(",")[1] == str(kept.id)


def test_an_unpriced_call_has_an_empty_cost_not_zero(member_client, endpoint):
    record_call(endpoint, started_at=at(20), model="claude-unknown-9")

    lines = _csv(member_client.get("/logs/export.csv"))

    assert lines[1].split(",")[17] == ""


def test_the_export_streams_rows_from_an_iterator(member_client, endpoint, monkeypatch):
    record_call(endpoint, started_at=at(20))
    calls = []
    original = QuerySet.iterator

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("chunk_size"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "iterator", spy)

    response = member_client.get("/logs/export.csv")
    assert calls == []  # nothing is read before the response is consumed
    lines = _csv(response)

    assert calls == [2000]
    assert len(lines) == 2


def test_the_export_never_contains_another_organizations_calls(member_client, other_org, endpoint):
    foreign_endpoint = proxy_endpoint_create(organization=other_org, name="G", slug="globex-x")
    record_call(foreign_endpoint, started_at=at(20))
    record_call(endpoint, started_at=at(20))

    lines = _csv(member_client.get("/logs/export.csv"))

    assert len(lines) == 2
    assert "globex-x" not in "\n".join(lines)


def test_the_export_requires_login(db):
    response = Client().get("/logs/export.csv")

    assert response.status_code == 302


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\t=cmd|' /C calc'!A0", "\r=HYPERLINK(\"x\")", "\t", "\r"],
)
def test_every_text_cell_a_spreadsheet_would_run_gets_a_leading_quote(
    member_client, endpoint, text
):
    record_call(endpoint, started_at=at(20, 9), model=text, session_name=text)

    response = member_client.get("/logs/export.csv")

    [row] = _csv_rows(response)
    assert row["model"] == "'" + text
    assert row["session"] == "'" + text
    # Numbers stay numbers.
    assert (row["input_tokens"], row["output_tokens"], row["status_code"]) == ("2095", "503", "200")


def test_text_that_merely_contains_a_formula_character_is_left_alone(member_client, endpoint):
    record_call(endpoint, started_at=at(20, 9), model="claude-3-5", session_name="fix a=b @ 10:00")

    response = member_client.get("/logs/export.csv")

    [row] = _csv_rows(response)
    assert (row["model"], row["session"]) == ("claude-3-5", "fix a=b @ 10:00")


def test_the_export_has_the_attribution_columns_at_the_end(member_client, endpoint):
    log = record_attributed(
        endpoint,
        started_at=at(20, 9),
        user="alice",
        agent="a1",
        parent="a0",
        agent_type="Explore",
        tags="db,=perf",
        property_repo="web",
        property_ticket="ENG-1: fix",
    )

    [row] = _csv_rows(member_client.get("/logs/export.csv"))

    assert list(row)[-8:] == [
        "person",
        "person_source",
        "agent_id",
        "parent_agent_id",
        "request_class",
        "agent_type",
        "tags",
        "properties",
    ]
    assert row["id"] == str(log.id)
    assert (row["person"], row["person_source"]) == ("alice", "header")
    assert (row["agent_id"], row["parent_agent_id"]) == ("a1", "a0")
    assert (row["request_class"], row["agent_type"]) == ("subagent", "Explore")
    assert row["tags"] == "db,=perf"  # a leading "=" only in the cell's first character counts
    assert json.loads(row["properties"]) == {"repo": "web", "ticket": "ENG-1: fix"}


def test_a_tag_list_starting_like_a_formula_gets_a_leading_quote(member_client, endpoint):
    record_attributed(endpoint, started_at=at(20, 9), tags="=cmd,db", user="@alice")

    [row] = _csv_rows(member_client.get("/logs/export.csv"))

    assert (row["tags"], row["person"]) == ("'=cmd,db", "'@alice")


def test_the_export_follows_the_attribution_filters(member_client, endpoint):
    kept = record_attributed(endpoint, started_at=at(20, 9), user="alice", tags="db", property_repo="web")
    record_attributed(endpoint, started_at=at(20, 10), user="alice", tags="db")
    record_attributed(endpoint, started_at=at(20, 11), user="bob", tags="db", property_repo="web")
    unset = record_attributed(endpoint, started_at=at(20, 12), user_agent="python-httpx/0.28")

    def ids(query):
        return [row["id"] for row in _csv_rows(member_client.get(f"/logs/export.csv?{query}"))]

    assert ids("person=alice&tag=db&property=repo:web") == [str(kept.id)]
    assert ids("person=(none)&tag=(none)&property=repo:(none)") == [str(unset.id)]
