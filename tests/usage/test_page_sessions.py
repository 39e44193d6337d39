"""The Sessions page: /sessions, starting and ending manual sessions."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from proxy.services import proxy_endpoint_create
from tests.usage.test_page_logs import at, record_call
from usage.models import Session
from usage.services.sessions import session_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


def test_sessions_require_login(db):
    response = Client().get("/sessions")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/sessions"


def test_sessions_are_listed_newest_first_with_their_totals(member_client, endpoint):
    record_call(endpoint, started_at=at(19), session_name="older work")
    record_call(endpoint, started_at=at(20), session_name="billing refactor")
    record_call(endpoint, started_at=at(20, 13), session_name="billing refactor")

    response = member_client.get("/sessions")

    sessions = response.context["sessions"]
    assert [s.name for s in sessions] == ["billing refactor", "older work"]
    assert (sessions[0].calls, sessions[0].input_tokens, sessions[0].output_tokens) == (
        2,
        4190,
        1006,
    )
    assert str(sessions[0].cost) == "$0.0277"  # 2 × $0.01383
    html = response.content.decode()
    assert f'href="/logs?session={sessions[0].id}"' in html
    assert "$0.0277" in html


def test_a_member_starts_a_manual_session_for_one_endpoint(member_client, org, endpoint):
    response = member_client.post(
        "/sessions/start", {"name": "spike: caching", "endpoint": str(endpoint.id)}
    )

    assert response.status_code == 302
    session = Session.objects.get(organization=org)
    assert (session.name, session.source, session.endpoint, session.ended_at) == (
        "spike: caching",
        Session.Source.MANUAL,
        endpoint,
        None,
    )
    # Calls made now join it.
    log = record_call(endpoint, started_at=timezone.now() + timedelta(seconds=1))
    assert log.session_id == session.id
    assert "running" in member_client.get("/sessions").content.decode()


def test_a_session_for_all_endpoints_takes_no_endpoint(member_client, org):
    member_client.post("/sessions/start", {"name": "whole team", "endpoint": ""})

    assert Session.objects.get(organization=org).endpoint is None


def test_a_blank_name_is_refused_with_the_services_message(member_client, org):
    response = member_client.post("/sessions/start", {"name": "  "})

    assert response.status_code == 400
    assert "name must not be blank" in response.content.decode()
    assert not Session.objects.exists()


def test_starting_a_session_on_another_organizations_endpoint_is_404(member_client, other_org):
    foreign = proxy_endpoint_create(organization=other_org, name="G", slug="globex-x")

    response = member_client.post(
        "/sessions/start", {"name": "sneaky", "endpoint": str(foreign.id)}
    )

    assert response.status_code == 404
    assert not Session.objects.exists()


def test_ending_a_manual_session(member_client, org):
    session = session_start(organization=org, name="spike")

    response = member_client.post(f"/sessions/{session.id}/end")

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.ended_at is not None
    html = member_client.get("/sessions").content.decode()
    assert f"/sessions/{session.id}/end" not in html


def test_a_header_session_cannot_be_ended_and_says_why(member_client, endpoint):
    session = record_call(endpoint, started_at=at(20), session_name="from header").session

    response = member_client.post(f"/sessions/{session.id}/end", follow=True)

    assert "only manual sessions can be ended" in response.content.decode()
    session.refresh_from_db()
    assert session.ended_at is None


def test_ending_another_organizations_session_is_404(member_client, other_org):
    foreign = session_start(organization=other_org, name="globex spike")

    response = member_client.post(f"/sessions/{foreign.id}/end")

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.ended_at is None


def test_another_organizations_sessions_are_never_listed(member_client, other_org):
    session_start(organization=other_org, name="globex spike")

    response = member_client.get("/sessions")

    assert response.context["sessions"] == []
    assert "globex spike" not in response.content.decode()


def test_sessions_page_by_keyset(member_client, org, monkeypatch):
    monkeypatch.setattr("usage.views.SESSION_PAGE_SIZE", 2)
    for name in ("one", "two", "three"):
        Session.objects.create(organization=org, name=name, started_at=at(20))

    first = member_client.get("/sessions")
    cursor = re.search(r'href="\?cursor=([^"]+)"', first.content.decode()).group(1)
    second = member_client.get(f"/sessions?cursor={cursor}")

    names = [s.name for page in (first, second) for s in page.context["sessions"]]
    assert sorted(names) == ["one", "three", "two"]
    assert second.context["next_cursor"] is None


def test_starting_and_ending_need_the_csrf_token(member, org):
    session = session_start(organization=org, name="spike")
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)

    assert client.post("/sessions/start", {"name": "x"}).status_code == 403
    assert client.post(f"/sessions/{session.id}/end").status_code == 403
    session.refresh_from_db()
    assert session.ended_at is None
    assert Session.objects.count() == 1


def test_a_manual_session_without_calls_is_not_on_the_dashboard(member_client, org, endpoint):
    session_start(organization=org, name="idle")
    record_call(endpoint, started_at=timezone.now() - timedelta(hours=1))

    response = member_client.get("/?days=7")

    assert response.context["sessions"] == []
