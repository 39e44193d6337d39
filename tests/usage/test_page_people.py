"""The People page: /people (name "people"): cost per person over the period, from the rollups.

`attributed_call` and `write` (used by the agents and properties page tests too) make a
call with attribution headers and write it through the worker's writer, so logs, labels,
daily totals and rollups are the real ones.
"""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.services import api_key_create
from proxy.services import proxy_endpoint_create
from tests.factories import token_usage, usage_record
from tests.usage.test_page_logs import at
from usage.models import UsageLog
from usage.records import UsageRecord
from usage.reports.people import cost_by_person
from usage.reports.period import Period
from usage.services.logs import usage_log_record_many

pytestmark = pytest.mark.django_db

WEEK = "since=2026-11-15&until=2026-11-21"
CLAUDE_CODE = "claude-cli/2.1.80 (external, cli)"
OTHER_CLIENT = "python-httpx/0.28.1"


def attributed_call(
    endpoint,
    *,
    started_at,
    headers: dict | None = None,
    input_tokens: int = 10_000,
    output_tokens: int = 1_000,
    cache_read_tokens: int = 0,
    user_agent: str = CLAUDE_CODE,
    session_name: str = "",
    api_key=None,
) -> UsageRecord:
    """One Sonnet 4.6 call with these attribution headers: by default 10,000 tokens in
    ($0.03) and 1,000 out ($0.015), $0.045."""
    return usage_record(
        endpoint=endpoint,
        started_at=started_at.timestamp(),
        usage=token_usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_write_5m_tokens=0,
            cache_read_tokens=cache_read_tokens,
        ),
        user_agent=user_agent,
        session_name=session_name,
        api_key_id=str(api_key.id) if api_key else None,
        attribution=headers or {},
    )


def write(*records: UsageRecord) -> list[UsageLog]:
    """Write the records as the worker does, in one batch; return their logs in order."""
    assert usage_log_record_many(records=list(records)) == len(records)
    logs = UsageLog.objects.in_bulk([record.id for record in records])
    return [logs[uuid.UUID(record.id)] for record in records]


def logs_behind(client, href: str) -> set:
    """The ids of the logs a row's link lists (on one page of the list)."""
    assert href.startswith("/logs?")
    response = client.get(href)
    assert response.status_code == 200
    return {log.id for log in response.context["logs"]}


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def people_calls(org, endpoint, owner):
    """Bob (a key's name) $0.18, Alice (a header) $0.093, a call of no one $0.045; and
    one of Alice's outside the week."""
    key, _ = api_key_create(organization=org, name="bob", created_by=owner)
    bob = attributed_call(
        endpoint, started_at=at(19), input_tokens=40_000, output_tokens=4_000, api_key=key
    )
    alice_plain = attributed_call(
        endpoint, started_at=at(20), headers={"x-codecosts-user": "alice"}
    )
    # 10,000 cache reads: $0.003 instead of $0.03, a saving of $0.027.
    alice_cached = attributed_call(
        endpoint, started_at=at(21), headers={"x-codecosts-user": "alice"}, cache_read_tokens=10_000
    )
    nobody = attributed_call(endpoint, started_at=at(21), user_agent=OTHER_CLIENT)
    alice_before = attributed_call(
        endpoint, started_at=at(10), headers={"x-codecosts-user": "alice"}
    )
    logs = write(bob, alice_plain, alice_cached, nobody, alice_before)
    return dict(zip(("bob", "alice_plain", "alice_cached", "nobody", "alice_before"), logs))


def test_the_people_page_requires_login(db):
    response = Client().get("/people")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/people"


def test_it_shows_cost_calls_tokens_cache_and_share_per_person(member_client, people_calls):
    response = member_client.get(f"/people?{WEEK}")

    assert response.status_code == 200
    report = response.context["people"]
    rows = [
        (
            line.label,
            line.source,
            line.calls,
            line.sums["input_tokens"],
            line.sums["output_tokens"],
            line.sums["cache_read_tokens"],
            line.cost.cents,
            line.cache_savings.cents,
            line.cache_hit_ratio,
            line.share,
        )
        for line in report.lines
    ]
    assert rows == [
        ("bob", "Codecosts key", 1, 40_000, 4_000, 0, Decimal("18"), Decimal("0"), "0.0%", "56.6%"),
        # 10,000 reads of 30,000 tokens read in all; $0.093 of $0.318.
        (
            "alice",
            "x-codecosts-user",
            2,
            20_000,
            2_000,
            10_000,
            Decimal("9.3"),
            Decimal("2.7"),
            "33.3%",
            "29.2%",
        ),
        ("Not attributed", "", 1, 10_000, 1_000, 0, Decimal("4.5"), Decimal("0"), "0.0%", "14.2%"),
    ]
    assert report.totals.cost.cents == Decimal("31.8")
    assert report.attributed_share == "85.8%"
    html = response.content.decode()
    assert "$0.18" in html and "$0.093" in html and "$0.027" in html and "Not attributed" in html
    assert 'href="/people"' in html and ">People</a>" in html  # in the nav


def test_each_row_links_to_exactly_its_calls_in_the_period(member_client, people_calls):
    response = member_client.get(f"/people?{WEEK}")

    links = {line.label: f"/logs?{line.logs_query}" for line in response.context["people"].lines}
    assert links["alice"] == "/logs?person=alice&since=2026-11-15&until=2026-11-21"
    assert links["Not attributed"] == "/logs?person=%28none%29&since=2026-11-15&until=2026-11-21"
    html = response.content.decode()
    for href in links.values():
        assert f'href="{href.replace("&", "&amp;")}"' in html
    assert logs_behind(member_client, links["bob"]) == {people_calls["bob"].id}
    assert logs_behind(member_client, links["alice"]) == {
        people_calls["alice_plain"].id,
        people_calls["alice_cached"].id,
    }
    assert logs_behind(member_client, links["Not attributed"]) == {people_calls["nobody"].id}


def test_the_period_picker_chooses_the_days(member_client, people_calls):
    response = member_client.get("/people?since=2026-11-10&until=2026-11-10")

    [alice] = response.context["people"].lines
    assert (alice.label, alice.calls, str(alice.cost)) == ("alice", 1, "$0.045")
    assert 'href="?days=7"' in response.content.decode()


def test_a_person_named_in_the_request_body_shows_that_source(member_client, endpoint):
    write(
        usage_record(
            endpoint=endpoint,
            started_at=at(20).timestamp(),
            user_agent=OTHER_CLIENT,
            request_body=b'{"model": "claude-sonnet-4-6", "metadata": {"user_id": "carol"}, "messages": []}',
        )
    )

    [carol] = member_client.get(f"/people?{WEEK}").context["people"].lines

    assert (carol.label, carol.source) == ("carol", "Request body (metadata.user_id, user)")


def test_the_costliest_people_are_shown_and_the_rest_summed(org, endpoint):
    write(
        *(
            attributed_call(
                endpoint, started_at=at(20), headers={"x-codecosts-user": name}, input_tokens=tokens
            )
            for name, tokens in (("ann", 30_000), ("ben", 20_000), ("cy", 10_000), ("di", 10_000))
        )
    )
    period = Period(since=at(15).date(), until=at(21).date())

    report = cost_by_person(organization=org, period=period, limit=2)

    assert [line.label for line in report.lines] == ["ann", "ben"]
    # cy and di: 10,000 in and 1,000 out each, $0.045.
    assert (report.more, report.more_cost.cents) == (2, Decimal("9"))
    assert report.attributed_share == "100.0%"


def test_the_page_reads_rollups_not_logs_and_no_query_per_row(
    member_client, endpoint, django_assert_max_num_queries
):
    write(
        *(
            attributed_call(endpoint, started_at=at(20), headers={"x-codecosts-user": f"p{i}"})
            for i in range(3)
        )
    )
    with CaptureQueriesContext(connection) as few:
        member_client.get(f"/people?{WEEK}")
    write(
        *(
            attributed_call(endpoint, started_at=at(d), headers={"x-codecosts-user": f"q{i}"})
            for i in range(30)
            for d in (19, 20)
        )
    )

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = member_client.get(f"/people?{WEEK}")

    assert len(response.context["people"].lines) == 33
    with CaptureQueriesContext(connection) as queries:
        member_client.get(f"/people?{WEEK}")
    on_logs = [q["sql"] for q in queries.captured_queries if '"usage_usagelog"' in q["sql"]]
    # Only the people's sources, each their latest call's (LIMIT 1 on the person index).
    assert len(on_logs) == 1
    assert '"usage_usagerollup"' in on_logs[0] and "LIMIT 1" in on_logs[0]


def test_a_member_sees_the_page_and_an_outsider_sees_only_their_own(
    member_client, outsider, other_org, people_calls
):
    globex = proxy_endpoint_create(organization=other_org, name="G", slug="globex-x")
    write(attributed_call(globex, started_at=at(20), headers={"x-codecosts-user": "gina"}))
    outsider_client = Client()
    outsider_client.force_login(outsider)

    ours = member_client.get(f"/people?{WEEK}")
    theirs = outsider_client.get(f"/people?{WEEK}")

    assert ours.status_code == theirs.status_code == 200
    assert "gina" not in ours.content.decode()
    assert [line.label for line in theirs.context["people"].lines] == ["gina"]
    html = theirs.content.decode()
    assert "alice" not in html and "bob" not in html
    # An outsider following Acme's link sees none of Acme's calls.
    assert logs_behind(outsider_client, f"/logs?person=alice&{WEEK}") == set()


def test_a_period_without_calls_says_so(member_client, endpoint):
    response = member_client.get(f"/people?{WEEK}")

    assert response.context["people"].lines == []
    assert "No calls in this period." in response.content.decode()


@pytest.mark.parametrize("path", ["/people", "/agents", "/properties"])
def test_every_attribution_page_is_for_the_organizations_members(path, owner, member, people_calls):
    from django.contrib.auth import get_user_model

    loner = get_user_model().objects.create_user(username="loner")
    for user, status in ((owner, 200), (member, 200), (loner, 403)):
        client = Client()
        client.force_login(user)
        response = client.get(f"{path}?{WEEK}")
        assert response.status_code == status, (user, path)
    assert "You are not a member of any organization" in response.content.decode()
    assert Client().get(path)["Location"] == f"/login?next={path}"
