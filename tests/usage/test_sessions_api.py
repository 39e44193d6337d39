"""Work sessions: session_start / session_end / session_active and /api/sessions."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from proxy.models import ProxyEndpoint
from tests.usage.test_usage_log_record import call
from usage.models import Session
from usage.selectors.sessions import session_active, session_current
from usage.services.logs import usage_log_record
from usage.services.sessions import session_end, session_start

LIST_URL = "/api/sessions"
SESSION_FIELDS = {
    "id",
    "name",
    "source",
    "external_id",
    "endpoint",
    "endpoint_slug",
    "started_at",
    "ended_at",
    "last_call_at",
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_cents",
    "duration_ms",
}


def detail_url(session_id) -> str:
    return f"/api/sessions/{session_id}"


def end_url(session_id) -> str:
    return f"/api/sessions/{session_id}/end"


def error(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["error"]


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def globex_endpoint(other_org):
    return ProxyEndpoint.objects.create(organization=other_org, name="Globex", slug="globex")


# --- services -----------------------------------------------------------------------


def test_starting_a_session_ends_the_one_running_in_the_same_scope(org):
    first = session_start(organization=org, name="First")
    second = session_start(organization=org, name="Second")

    first.refresh_from_db()
    assert first.ended_at == second.started_at
    assert second.ended_at is None
    assert session_active(organization=org) == second


def test_sessions_of_other_scopes_keep_running(org, other_org, endpoint):
    everywhere = session_start(organization=org, name="Everywhere")
    globex = session_start(organization=other_org, name="Globex")
    production = session_start(organization=org, name="Production", endpoint=endpoint)

    assert session_active(organization=org) == everywhere
    assert session_active(organization=org, endpoint=endpoint) == production
    assert session_active(organization=other_org) == globex
    production_again = session_start(organization=org, name="Production 2", endpoint=endpoint)
    assert session_active(organization=org) == everywhere
    assert session_active(organization=org, endpoint=endpoint) == production_again


def test_the_current_session_of_an_endpoint_falls_back_to_the_organization_wide_one(org, endpoint):
    everywhere = session_start(organization=org, name="Everywhere")
    assert session_current(organization=org, endpoint=endpoint) == everywhere
    assert session_active(organization=org, endpoint=endpoint) is None

    production = session_start(organization=org, name="Production", endpoint=endpoint)
    assert session_current(organization=org, endpoint=endpoint) == production
    assert session_current(organization=org) == everywhere


def test_a_started_session_is_manual_and_starts_now(org):
    before = timezone.now()
    session = session_start(organization=org, name="  Build recommendation engine ")

    assert session.name == "Build recommendation engine"
    assert (session.source, session.endpoint, session.ended_at) == ("manual", None, None)
    assert before <= session.started_at <= timezone.now()


def test_ending_a_session_twice_keeps_the_first_end(org):
    session = session_start(organization=org, name="Work")
    ended = session_end(session=session)
    first_end = ended.ended_at

    again = session_end(session=Session.objects.get(pk=session.pk))

    assert first_end is not None
    assert again.ended_at == first_end
    assert session_active(organization=org) is None


def test_a_header_session_cannot_be_ended(org, endpoint):
    log = usage_log_record(record=call(endpoint, session_name="Feature X"))

    with pytest.raises(ValidationError) as raised:
        session_end(session=log.session)

    assert raised.value.code == "not_manual"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, None])
def test_a_session_needs_a_name_of_at_most_200_characters(org, name):
    with pytest.raises(ValidationError) as raised:
        session_start(organization=org, name=name)

    assert list(raised.value.message_dict) == ["name"]
    assert not Session.objects.exists()


def test_a_session_cannot_be_scoped_to_another_organizations_endpoint(org, globex_endpoint):
    with pytest.raises(ValidationError) as raised:
        session_start(organization=org, name="Work", endpoint=globex_endpoint)

    assert list(raised.value.message_dict) == ["endpoint"]
    assert not Session.objects.exists()


# --- POST /api/sessions -------------------------------------------------------------


def test_it_starts_an_organization_wide_session(api_client, org):
    response = api_client.post(LIST_URL, {"name": "Build recommendation engine"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == SESSION_FIELDS
    session = Session.objects.get(id=body["id"])
    assert session.organization == org
    assert body == {
        "id": str(session.id),
        "name": "Build recommendation engine",
        "source": "manual",
        "external_id": "",
        "endpoint": None,
        "endpoint_slug": None,
        "started_at": iso(session.started_at),
        "ended_at": None,
        "last_call_at": None,
        "calls": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_write_tokens": 0,
        "cache_read_tokens": 0,
        "cost_cents": "0",
        "duration_ms": 0,
    }


@pytest.mark.parametrize("reference", ["slug", "id"])
def test_it_starts_a_session_for_an_endpoint_by_slug_or_id(api_client, endpoint, reference):
    value = endpoint.slug if reference == "slug" else str(endpoint.id)

    response = api_client.post(LIST_URL, {"name": "Production work", "endpoint": value})

    assert response.status_code == 201
    assert (response.json()["endpoint"], response.json()["endpoint_slug"]) == (
        str(endpoint.id),
        "acme-app",
    )
    assert Session.objects.get(id=response.json()["id"]).endpoint == endpoint


def test_starting_a_session_ends_the_previous_one_in_its_scope(api_client, org):
    first = api_client.post(LIST_URL, {"name": "First"}).json()
    second = api_client.post(LIST_URL, {"name": "Second"}).json()

    assert api_client.get(detail_url(first["id"])).json()["ended_at"] == second["started_at"]
    assert session_active(organization=org).name == "Second"


@pytest.mark.parametrize("reference", ["globex", "id", "no-such-endpoint", "a/b"])
def test_another_organizations_or_an_unknown_endpoint_is_a_400(
    api_client, globex_endpoint, reference
):
    value = str(globex_endpoint.id) if reference == "id" else reference

    response = api_client.post(LIST_URL, {"name": "Work", "endpoint": value})

    assert response.status_code == 400
    body = error(response)
    assert list(body["fields"]) == ["endpoint"]
    assert body["message"] == "endpoint is not the id or slug of an endpoint of your organization."
    assert not Session.objects.exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "name: This field is required."),
        ({"name": ""}, "name must not be blank."),
        ({"name": "   "}, "name must not be blank."),
        ({"name": "x" * 201}, "name must be at most 200 characters."),
    ],
)
def test_a_session_needs_a_name(api_client, payload, message):
    response = api_client.post(LIST_URL, payload)

    assert response.status_code == 400
    assert error(response)["message"] == message
    assert list(error(response)["fields"]) == ["name"]


# --- POST /api/sessions/<id>/end ----------------------------------------------------


def test_it_ends_a_session_and_ending_it_again_changes_nothing(api_client, org):
    session = session_start(organization=org, name="Work")

    first = api_client.post(end_url(session.id))
    second = api_client.post(end_url(session.id))

    assert first.status_code == second.status_code == 200
    session.refresh_from_db()
    assert first.json()["ended_at"] == iso(session.ended_at)
    assert second.json()["ended_at"] == first.json()["ended_at"]
    assert session_active(organization=org) is None


def test_ending_a_header_session_is_a_400(api_client, endpoint):
    log = usage_log_record(record=call(endpoint, session_name="Feature X"))

    response = api_client.post(end_url(log.session_id))

    assert response.status_code == 400
    assert error(response)["code"] == "not_manual"
    assert Session.objects.get(pk=log.session_id).ended_at is None


def test_an_outsider_cannot_end_a_session(outsider_client, org):
    session = session_start(organization=org, name="Work")

    response = outsider_client.post(end_url(session.id))

    assert response.status_code == 404
    session.refresh_from_db()
    assert session.ended_at is None


# --- GET /api/sessions and /api/sessions/<id> ---------------------------------------


def test_it_lists_sessions_newest_first_with_their_totals(api_client, org, endpoint):
    older = session_start(organization=org, name="Older")
    session_end(session=older)
    newer = session_start(organization=org, name="Newer", endpoint=endpoint)
    at = timezone.now() + timedelta(milliseconds=1)
    usage_log_record(
        record=call(endpoint, at=at, tokens=(1000, 100, 1000, 1000, 10000), duration_ms=1500)
    )
    usage_log_record(
        record=call(
            endpoint, at=at + timedelta(seconds=1), tokens=(1000, 100, 0, 0, 0), duration_ms=500
        )
    )

    body = api_client.get(LIST_URL).json()

    assert [item["name"] for item in body["items"]] == ["Newer", "Older"]
    item = body["items"][0]
    assert item["id"] == str(newer.id)
    assert (item["endpoint"], item["endpoint_slug"]) == (str(endpoint.id), "acme-app")
    assert (item["calls"], item["input_tokens"], item["output_tokens"]) == (2, 2000, 200)
    assert (item["cache_write_tokens"], item["cache_read_tokens"]) == (2000, 10000)
    # 0.45 + (0.45 + 0.375 + 0.6 + 0.3)
    assert item["cost_cents"] == "2.175"
    assert item["duration_ms"] == 2000
    assert item["source"] == "manual"
    assert item["ended_at"] is None
    assert body["items"][1]["ended_at"] is not None


def test_the_list_pages_with_a_cursor(api_client, org):
    names = [f"Session {n}" for n in range(5)]
    for name in names:
        session_start(organization=org, name=name)

    seen, cursor = [], ""
    while True:
        body = api_client.get(LIST_URL, {"limit": 2, "cursor": cursor}).json()
        seen += [item["name"] for item in body["items"]]
        if not body["hasMore"]:
            break
        cursor = body["nextCursor"]

    assert seen == names[::-1]


def test_the_list_includes_header_and_claude_code_sessions(api_client, endpoint):
    usage_log_record(record=call(endpoint, session_name="Feature X"))
    usage_log_record(
        record=call(
            endpoint, claude_code_session_id="cc-1", messages=[{"role": "user", "content": "Hi"}]
        )
    )

    items = api_client.get(LIST_URL).json()["items"]

    assert sorted((item["source"], item["name"], item["external_id"]) for item in items) == [
        ("claude_code", "Hi", "cc-1"),
        ("header", "Feature X", "Feature X"),
    ]


def test_it_reads_one_session(api_client, org):
    session = session_start(organization=org, name="Work")

    response = api_client.get(detail_url(session.id))

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["name"]) == (str(session.id), "Work")


def test_an_invalid_limit_is_a_400(api_client):
    response = api_client.get(LIST_URL, {"limit": "many"})

    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["limit"]


def test_a_missing_or_malformed_session_is_a_404(api_client):
    import uuid

    assert api_client.get(detail_url(uuid.uuid4())).status_code == 404
    assert api_client.get(detail_url("nope")).status_code == 404
    assert api_client.post(end_url("nope")).status_code == 404


# --- authentication and isolation ---------------------------------------------------


def test_every_sessions_call_needs_credentials(anonymous_client, org):
    session = session_start(organization=org, name="Work")

    responses = [
        anonymous_client.get(LIST_URL),
        anonymous_client.post(LIST_URL, {"name": "x"}),
        anonymous_client.get(detail_url(session.id)),
        anonymous_client.post(end_url(session.id)),
    ]

    assert [r.status_code for r in responses] == [401] * 4
    assert {error(r)["type"] for r in responses} == {"authentication_error"}
    assert Session.objects.count() == 1


def test_a_browser_session_starts_and_lists_sessions(owner_session_client, org):
    response = owner_session_client.post(LIST_URL, {"name": "From the browser"})

    assert response.status_code == 201
    assert Session.objects.get(id=response.json()["id"]).organization == org
    assert [i["name"] for i in owner_session_client.get(LIST_URL).json()["items"]] == [
        "From the browser"
    ]


def test_another_organization_never_sees_the_sessions(outsider_client, org, other_org):
    acme = session_start(organization=org, name="Acme work")
    globex = session_start(organization=other_org, name="Globex work")

    items = outsider_client.get(LIST_URL).json()["items"]

    assert [item["id"] for item in items] == [str(globex.id)]
    assert outsider_client.get(detail_url(acme.id)).status_code == 404


def test_starting_a_session_never_ends_another_organizations(outsider_client, org):
    acme = session_start(organization=org, name="Acme work")

    assert outsider_client.post(LIST_URL, {"name": "Globex work"}).status_code == 201

    acme.refresh_from_db()
    assert acme.ended_at is None
