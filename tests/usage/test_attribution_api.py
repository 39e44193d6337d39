"""Attribution in the API: /api/usage/summary?group_by=person|request_class|agent_type|tag|
property:<name> and the same filters on /api/usage-logs, for the owner, a member and an
outsider (issue 13). Calls go through the usage writer, so rollups and labels are real."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create
from proxy.models import ProxyEndpoint
from tests.conftest import _api_client
from usage.records import TokenUsage, UsageRecord, record_from_payload, record_to_payload
from usage.services.logs import usage_log_record

DAY = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# Whole days come from the rollups; a range inside the day from the logs: both must agree.
WHOLE_DAY = {"since": "2026-03-01", "until": "2026-03-01"}
INSIDE_DAY = {"since": "2026-03-01T08:00:00Z", "until": "2026-03-01T20:00:00Z"}


def call(endpoint, *, input_tokens: int, headers: dict, user_agent: str = "claude-cli/2.1.197", api_key=None):
    """A Sonnet 4.6 call ($3/MTok input: 1,000 tokens cost 0.3 cents) with these headers."""
    raw = UsageRecord(
        id=str(uuid.uuid4()),
        organization_id=str(endpoint.organization_id),
        endpoint_id=str(endpoint.id),
        endpoint_slug=endpoint.slug,
        provider="anthropic",
        path="/v1/messages",
        started_at=DAY.timestamp(),
        duration_ms=100,
        status_code=200,
        outcome="ok",
        usage=TokenUsage(model="claude-sonnet-4-6", input_tokens=input_tokens, seen=True, final=True),
        user_agent=user_agent,
        api_key_id=str(api_key.id) if api_key else "",
        attribution=headers,
        request_body=json.dumps({"model": "claude-sonnet-4-6", "messages": []}).encode(),
    )
    return usage_log_record(record=record_from_payload(record_to_payload(raw)))


@pytest.fixture
def world(org, endpoint, other_org):
    """Acme: alice's main calls and a subagent run, bob's tagged call, and an unattributed
    call from a plain SDK; Globex: an alice of its own, tagged alike."""
    key, _ = api_key_create(organization=org, name="carol-ci", scope=ApiKey.Scope.PROXY)
    logs = {
        "alice_main": call(endpoint, input_tokens=1000, headers={
            "x-codecosts-user": "alice", "x-codecosts-tags": "web", "x-codecosts-property-repo": "shop"}),
        "alice_sub": call(endpoint, input_tokens=2000, headers={
            "x-codecosts-user": "alice", "x-claude-code-agent-id": "a1", "x-claude-code-agent-type": "Explore",
            "x-codecosts-tags": "web,api", "x-codecosts-property-repo": "shop"}),
        "bob": call(endpoint, input_tokens=4000, headers={
            "x-codecosts-user": "bob", "x-claude-code-request-class": "compaction",
            "x-codecosts-property-repo": "blog"}),
        "carol": call(endpoint, input_tokens=8000, headers={}, api_key=key),
        "nobody": call(endpoint, input_tokens=16000, headers={}, user_agent="Anthropic/Python 2.12.0"),
    }
    globex = ProxyEndpoint.objects.create(organization=other_org, name="Globex", slug="globex")
    logs["globex_alice"] = call(globex, input_tokens=32000, headers={
        "x-codecosts-user": "alice", "x-codecosts-tags": "web", "x-codecosts-property-repo": "shop"})
    return logs


@pytest.fixture
def member_client(member):
    client = _api_client()
    client.force_login(member)
    return client


def grouped(client, group_by: str, **params) -> dict:
    response = client.get("/api/usage/summary", {"group_by": group_by, **(params or WHOLE_DAY)})
    assert response.status_code == 200, response.content
    body = response.json()
    return {item["key"]: (item["calls"], item["cost_cents"]) for item in body["items"]}


EXPECTED = {
    "person": {"alice": (2, "0.9"), "bob": (1, "1.2"), "carol-ci": (1, "2.4"), None: (1, "4.8")},
    "request_class": {"main": (2, "2.7"), "subagent": (1, "0.6"), "compaction": (1, "1.2"), None: (1, "4.8")},
    "agent_type": {"Explore": (1, "0.6"), None: (4, "8.7")},
    "tag": {"web": (2, "0.9"), "api": (1, "0.6"), None: (3, "8.4")},
    "property:repo": {"shop": (2, "0.9"), "blog": (1, "1.2"), None: (2, "7.2")},
}


@pytest.mark.parametrize("group_by", list(EXPECTED))
@pytest.mark.parametrize("params", [WHOLE_DAY, INSIDE_DAY], ids=["rollups", "logs"])
def test_owner_and_member_get_each_grouping_from_rollups_and_logs_alike(
    api_client, member_client, world, group_by, params
):
    assert grouped(api_client, group_by, **params) == EXPECTED[group_by]
    assert grouped(member_client, group_by, **params) == EXPECTED[group_by]


@pytest.mark.parametrize("group_by", list(EXPECTED))
def test_an_outsider_sees_only_its_own_organizations_groups(outsider_client, world, group_by):
    expected = {
        "person": {"alice": (1, "9.6")},
        "request_class": {"main": (1, "9.6")},
        "agent_type": {None: (1, "9.6")},
        "tag": {"web": (1, "9.6")},
        "property:repo": {"shop": (1, "9.6")},
    }[group_by]
    assert grouped(outsider_client, group_by) == expected


def test_the_property_name_is_case_insensitive_like_a_header(api_client, world):
    assert grouped(api_client, "property:REPO") == EXPECTED["property:repo"]
    assert grouped(api_client, "property:unknown") == {None: (5, "9.3")}


def test_session_grouping_reads_the_rollups_for_whole_days(api_client, world, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        by_session = grouped(api_client, "session")
    assert by_session == {None: (5, "9.3")}


def listed(client, **params) -> list[str]:
    response = client.get("/api/usage-logs", params)
    assert response.status_code == 200, response.content
    return sorted(item["person"] or "-" for item in response.json()["items"])


@pytest.mark.parametrize(
    "params, people",
    [
        ({"person": "alice"}, ["alice", "alice"]),
        ({"person": "(none)"}, ["-"]),
        ({"request_class": "subagent"}, ["alice"]),
        ({"request_class": "(none)"}, ["-"]),
        ({"agent_type": "Explore"}, ["alice"]),
        ({"agent": "a1"}, ["alice"]),
        ({"tag": "web"}, ["alice", "alice"]),
        ({"tag": "(none)"}, ["-", "bob", "carol-ci"]),
        ({"property": "repo:shop"}, ["alice", "alice"]),
        ({"property": "repo:(none)"}, ["-", "carol-ci"]),
        ({"tag": "api", "person": "alice"}, ["alice"]),
        ({"tag": "web", "property": "repo:blog"}, []),
    ],
)
def test_each_filter_for_owner_and_member_and_never_across_organizations(
    api_client, member_client, outsider_client, world, params, people
):
    assert listed(api_client, **params) == people
    assert listed(member_client, **params) == people
    globex = {"person": "alice", "tag": "web", "property": "repo:shop", "request_class": "main"}
    outsider_expected = ["alice"] if all(globex.get(k) == v for k, v in params.items()) else []
    assert listed(outsider_client, **params) == outsider_expected


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"property": "repo"}, "property", 'property must be <name>:<value> (a value of "(none)": calls without it)'),
        ({"person": "p" * 101}, "person", "person must be at most 100 characters"),
        ({"tag": "t" * 65}, "tag", "tag must be at most 64 characters"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api_client, params, field, message):
    response = api_client.get("/api/usage-logs", params)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}


@pytest.mark.parametrize("group_by", ["property:", "property:" + "p" * 100, "people"])
def test_a_bad_group_by_is_a_400(api_client, group_by):
    response = api_client.get("/api/usage/summary", {"group_by": group_by})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["group_by"][0].startswith("group_by must be one of endpoint,")


def test_anonymous_callers_get_nothing(anonymous_client, world):
    assert anonymous_client.get("/api/usage/summary", {"group_by": "person"}).status_code == 401
    assert anonymous_client.get("/api/usage-logs", {"person": "alice"}).status_code == 401
