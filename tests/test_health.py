"""GET /health"""

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from proxy.models import ProxyEndpoint
from proxy.services import local_setup
from tests.factories import usage_record
from tests.usage.test_usage_log_record import call
from usage.dead_letters import dead_letter_batch
from usage.records import record_to_payload
from usage.services.logs import usage_log_record
from usage.services.sessions import session_end, session_start
from usage.spool import Spool


def test_it_reports_ok_with_version_database_queue_and_session(client, db, settings, tmp_path, dead_letters):
    settings.USAGE_SPOOL_DIR = tmp_path / "spool"

    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": settings.VERSION,
        "database": "ok",
        "queue": "ok" if settings.REDIS_URL else "in-process",
        "usage_pipeline": {"spooled_bytes": 0, "dead_letters": 0},
        "active_session": None,
    }
    assert "no-cache" in response["Cache-Control"]


def test_it_needs_no_credentials(client, db):
    assert client.get("/health").status_code == 200


@override_settings(REDIS_URL="")
def test_without_redis_the_queue_is_in_process(client, db):
    assert client.get("/health").json()["queue"] == "in-process"


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_an_unreachable_broker_is_reported_without_failing_health(client, db):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json()["queue"] == "unreachable"
    assert response.json()["status"] == "ok"


def test_it_answers_503_when_the_database_is_unreachable(client, db):
    with mock.patch.object(
        connection, "cursor", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["database"] == "unreachable"
    assert response.json()["version"] == settings.VERSION


@pytest.mark.parametrize("method", ["post", "delete"])
def test_it_only_answers_reads(client, db, method):
    assert getattr(client, method)("/health").status_code == 405


# --- active_session -----------------------------------------------------------------


def _expected(session) -> dict:
    """What /health reports for a session without calls."""
    return {
        "id": str(session.id),
        "name": session.name,
        "started_at": session.started_at.isoformat().replace("+00:00", "Z"),
        "calls": 0,
        "cost_cents": "0",
    }


@override_settings(LOCAL_MODE=True)
def test_in_local_mode_it_reports_the_local_active_session_with_its_totals(client, db):
    endpoint = local_setup()
    session = session_start(organization=endpoint.organization, name="Build recommendation engine")
    at = timezone.now() + timedelta(milliseconds=1)
    usage_log_record(record=call(endpoint, at=at, tokens=(1000, 100, 0, 0, 0)))
    session.refresh_from_db()

    active = client.get("/health").json()["active_session"]

    assert active == {
        "id": str(session.id),
        "name": "Build recommendation engine",
        "started_at": session.started_at.isoformat().replace("+00:00", "Z"),
        "calls": 1,
        "cost_cents": "0.45",
    }


@override_settings(LOCAL_MODE=True)
def test_in_local_mode_the_local_endpoints_own_session_wins(client, db):
    endpoint = local_setup()
    session_start(organization=endpoint.organization, name="Everywhere")
    own = session_start(organization=endpoint.organization, name="Local only", endpoint=endpoint)

    assert client.get("/health").json()["active_session"] == _expected(own)


@override_settings(LOCAL_MODE=True)
def test_in_local_mode_an_ended_session_is_not_reported(client, db):
    endpoint = local_setup()
    session_end(session=session_start(organization=endpoint.organization, name="Done"))

    assert client.get("/health").json()["active_session"] is None


@override_settings(LOCAL_MODE=True)
def test_in_local_mode_without_the_local_endpoint_there_is_no_session(client, db):
    assert client.get("/health").json()["active_session"] is None
    # /health only reads: it never creates the local organization.
    assert not ProxyEndpoint.objects.filter(slug="local").exists()


@override_settings(LOCAL_MODE=False)
def test_in_hosted_mode_an_anonymous_caller_never_sees_a_session(client, org):
    session_start(organization=org, name="Acme secret project")

    response = client.get("/health")

    assert response.json()["active_session"] is None
    assert b"Acme secret project" not in response.content


@override_settings(LOCAL_MODE=False)
def test_in_hosted_mode_a_bearer_key_sees_its_own_organizations_session(
    client, org, other_org, owner_key, outsider_key
):

    acme = session_start(organization=org, name="Acme work")

    as_acme = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {owner_key}")
    as_globex = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {outsider_key}")

    assert as_acme.json()["active_session"] == _expected(acme)
    assert as_globex.json()["active_session"] is None


@override_settings(LOCAL_MODE=False)
def test_in_hosted_mode_a_browser_session_sees_its_organizations_session(client, org, owner):
    acme = session_start(organization=org, name="Acme work")
    client.force_login(owner)

    assert client.get("/health").json()["active_session"] == _expected(acme)


@pytest.mark.parametrize("header", ["Bearer cc_" + "x" * 43, "Bearer nonsense", "Basic abc"])
@override_settings(LOCAL_MODE=False)
def test_an_invalid_key_is_anonymous_and_health_still_answers(client, org, header):
    session_start(organization=org, name="Acme work")

    response = client.get("/health", HTTP_AUTHORIZATION=header)

    assert response.status_code == 200
    assert response.json()["active_session"] is None


@override_settings(LOCAL_MODE=True)
def test_in_local_mode_a_key_of_another_organization_sees_its_own_not_the_local_one(
    client, org, owner_key
):

    endpoint = local_setup()
    session_start(organization=endpoint.organization, name="Local work")
    acme = session_start(organization=org, name="Acme work")

    response = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {owner_key}")

    assert response.json()["active_session"] == _expected(acme)


def test_it_counts_what_waits_in_the_spool_and_the_dead_letters(client, db, settings, tmp_path, dead_letters):
    settings.USAGE_SPOOL_DIR = tmp_path / "spool"
    spool = Spool(settings.USAGE_SPOOL_DIR)
    spool.append([record_to_payload(usage_record())])
    dead_letter_batch([record_to_payload(usage_record()) for _ in range(2)], "refused")
    spool.dead_letter(b"not json", "not a JSON line")

    state = client.get("/health").json()["usage_pipeline"]

    assert state == {"spooled_bytes": spool.path.stat().st_size, "dead_letters": 3}
