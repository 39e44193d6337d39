"""The Agents page: /agents (name "agents"): cost per request class and agent type, and
the costliest subagent runs, from the rollups."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from proxy.services import proxy_endpoint_create
from tests.usage.test_page_logs import at, sqlite_can_use
from tests.usage.test_page_people import OTHER_CLIENT, WEEK, attributed_call, logs_behind, write

pytestmark = pytest.mark.django_db

AGENT = "x-claude-code-agent-id"
PARENT = "x-claude-code-parent-agent-id"
CLASS = "x-claude-code-request-class"
TYPE = "x-claude-code-agent-type"


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def agent_calls(endpoint):
    """Claude Code's main conversation (2 calls, no hint headers: counted as main), an
    Explore subagent a1 (3 calls in session "refactor"), a general-purpose one a2 started
    by a1, a compaction, and a call of another client (no request class)."""
    explore = {AGENT: "a1", TYPE: "Explore", CLASS: "subagent"}
    records = {
        "main_1": attributed_call(endpoint, started_at=at(20, 9)),
        "main_2": attributed_call(endpoint, started_at=at(20, 10)),
        # $0.09 each: 20,000 in, 2,000 out.
        **{
            f"a1_{i}": attributed_call(
                endpoint,
                started_at=at(20, 11, i),
                headers=explore,
                input_tokens=20_000,
                output_tokens=2_000,
                session_name="refactor",
            )
            for i in range(3)
        },
        "a2": attributed_call(
            endpoint,
            started_at=at(21, 9),
            headers={AGENT: "a2", PARENT: "a1", TYPE: "general-purpose"},
        ),
        "compaction": attributed_call(
            endpoint, started_at=at(21, 10), headers={CLASS: "compaction"}
        ),
        "other": attributed_call(endpoint, started_at=at(21, 11), user_agent=OTHER_CLIENT),
        "a1_before": attributed_call(endpoint, started_at=at(10), headers=explore),
    }
    return dict(zip(records, write(*records.values())))


def _rows(lines):
    return [(line.label, line.calls, line.cost.cents, line.share) for line in lines]


def test_the_agents_page_requires_login(db):
    response = Client().get("/agents")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/agents"


def test_cost_by_request_class_with_the_calls_that_sent_none(member_client, agent_calls):
    response = member_client.get(f"/agents?{WEEK}")

    assert response.status_code == 200
    agents = response.context["agents"]
    # $0.045 a call, a1's $0.09: $0.495 in all.
    assert agents.totals.cost.cents == Decimal("49.5")
    assert _rows(agents.request_classes) == [
        # a1 said "subagent"; a2 sent no class but an agent id.
        ("Subagents", 4, Decimal("31.5"), "63.6%"),
        ("Main conversation", 2, Decimal("9"), "18.2%"),
        ("Compaction", 1, Decimal("4.5"), "9.1%"),
        ("Not sent", 1, Decimal("4.5"), "9.1%"),
    ]
    html = response.content.decode()
    assert "CLAUDE_CODE_GATEWAY_HINT_HEADERS=1" in html
    assert ">Agents</a>" in html


def test_cost_by_agent_type(member_client, agent_calls):
    agents = member_client.get(f"/agents?{WEEK}").context["agents"]

    assert _rows(agents.agent_types) == [
        ("Explore", 3, Decimal("27"), "54.5%"),
        ("general-purpose", 1, Decimal("4.5"), "9.1%"),
        ("No agent type", 4, Decimal("18"), "36.4%"),
    ]


def test_the_costliest_subagent_runs_with_type_parent_and_session(member_client, agent_calls):
    response = member_client.get(f"/agents?{WEEK}")

    runs = response.context["agents"].runs
    rows = [
        (
            run.agent_id,
            run.agent_type,
            run.parent_agent_id,
            run.session_name,
            run.calls,
            run.cost.cents,
        )
        for run in runs
    ]
    assert rows == [
        ("a1", "Explore", "", "refactor", 3, Decimal("27")),
        ("a2", "general-purpose", "a1", "", 1, Decimal("4.5")),
    ]
    assert runs[0].first_call == at(20, 11, 0)
    session_id = agent_calls["a1_0"].session_id
    assert runs[0].session_id == str(session_id)
    html = response.content.decode()
    assert f'href="/logs?session={session_id}"' in html
    assert logs_behind(member_client, f"/logs?session={session_id}") == {
        agent_calls[f"a1_{i}"].id for i in range(3)
    }


def test_each_row_links_to_exactly_its_calls_in_the_period(member_client, agent_calls):
    agents = member_client.get(f"/agents?{WEEK}").context["agents"]
    classes = {line.label: f"/logs?{line.logs_query}" for line in agents.request_classes}
    types = {line.label: f"/logs?{line.logs_query}" for line in agents.agent_types}
    runs = {run.agent_id: f"/logs?{run.logs_query}" for run in agents.runs}
    a1 = {agent_calls[f"a1_{i}"].id for i in range(3)}

    assert classes["Not sent"] == "/logs?request_class=%28none%29&since=2026-11-15&until=2026-11-21"
    assert logs_behind(member_client, classes["Subagents"]) == a1 | {agent_calls["a2"].id}
    assert logs_behind(member_client, classes["Main conversation"]) == {
        agent_calls["main_1"].id,
        agent_calls["main_2"].id,
    }
    assert logs_behind(member_client, classes["Compaction"]) == {agent_calls["compaction"].id}
    assert logs_behind(member_client, classes["Not sent"]) == {agent_calls["other"].id}
    assert logs_behind(member_client, types["Explore"]) == a1
    assert logs_behind(member_client, types["No agent type"]) == {
        agent_calls[name].id for name in ("main_1", "main_2", "compaction", "other")
    }
    assert runs["a1"] == "/logs?agent=a1&since=2026-11-15&until=2026-11-21"
    assert logs_behind(member_client, runs["a1"]) == a1
    assert logs_behind(member_client, runs["a2"]) == {agent_calls["a2"].id}


def test_only_the_ten_costliest_runs_and_no_query_per_row(
    member_client, endpoint, django_assert_max_num_queries
):
    write(attributed_call(endpoint, started_at=at(20), headers={AGENT: "only", TYPE: "Plan"}))
    with CaptureQueriesContext(connection) as one_run:
        member_client.get(f"/agents?{WEEK}")
    # Run r<i> makes i calls, so r12 is the costliest.
    write(
        *(
            attributed_call(
                endpoint,
                started_at=at(20, 12, i, n),
                headers={AGENT: f"r{i}", TYPE: f"T{i}"},
                session_name=f"s{i}",
            )
            for i in range(1, 13)
            for n in range(i)
        )
    )

    with django_assert_max_num_queries(len(one_run.captured_queries)):
        response = member_client.get(f"/agents?{WEEK}")

    runs = response.context["agents"].runs
    assert [run.agent_id for run in runs] == [f"r{i}" for i in range(12, 2, -1)]
    assert [(run.agent_type, run.session_name) for run in runs[:2]] == [
        ("T12", "s12"),
        ("T11", "s11"),
    ]
    with CaptureQueriesContext(connection) as queries:
        member_client.get(f"/agents?{WEEK}")
    on_logs = [q["sql"] for q in queries.captured_queries if '"usage_usagelog"' in q["sql"]]
    assert len(on_logs) == 1 and '"agent_id" IN' in on_logs[0]


def test_an_outsider_sees_none_of_this_organizations_agents(
    member_client, outsider, other_org, agent_calls
):
    globex = proxy_endpoint_create(organization=other_org, name="G", slug="globex-x")
    write(attributed_call(globex, started_at=at(20), headers={AGENT: "g1", TYPE: "GlobexAgent"}))
    outsider_client = Client()
    outsider_client.force_login(outsider)

    theirs = outsider_client.get(f"/agents?{WEEK}")
    ours = member_client.get(f"/agents?{WEEK}")

    assert [run.agent_id for run in theirs.context["agents"].runs] == ["g1"]
    assert [line.label for line in theirs.context["agents"].agent_types] == ["GlobexAgent"]
    html = theirs.content.decode()
    assert "Explore" not in html and "refactor" not in html
    assert "GlobexAgent" not in ours.content.decode()
    assert logs_behind(outsider_client, f"/logs?agent=a1&{WEEK}") == set()


def test_a_period_without_subagents_says_so(member_client, endpoint):
    write(attributed_call(endpoint, started_at=at(20)))

    response = member_client.get(f"/agents?{WEEK}")

    assert response.context["agents"].runs == []
    assert "No subagent run in this period." in response.content.decode()


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's planner (PostgreSQL proves the condition itself)"
)
def test_the_runs_are_read_on_the_agent_index(member_client, agent_calls):
    with CaptureQueriesContext(connection) as queries:
        member_client.get(f"/agents?{WEEK}")

    [facts] = [q["sql"] for q in queries.captured_queries if '"usage_usagelog"' in q["sql"]]
    assert sqlite_can_use(facts, "usagelog_org_agent")
