"""python manage.py session start|end|status"""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from proxy.models import ProxyEndpoint
from proxy.services import local_setup
from tests.usage.test_usage_log_record import call
from usage.models import Session
from usage.services.logs import usage_log_record


def run(*args) -> str:
    out = io.StringIO()
    call_command("session", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def local_mode(settings, db):
    settings.LOCAL_MODE = True
    local_setup()  # what the server does when it starts
    return settings


def local_endpoint() -> ProxyEndpoint:
    return ProxyEndpoint.objects.select_related("organization").get(slug="local")


def record_call_on(endpoint: ProxyEndpoint, **kwargs):
    at = timezone.now() + timedelta(milliseconds=1)
    return usage_log_record(record=call(endpoint, at=at, **kwargs))


# --- local mode ---------------------------------------------------------------------


def test_start_opens_a_session_for_the_local_organization(local_mode):
    output = run("start", "Build recommendation engine")

    session = Session.objects.get()
    local = local_endpoint()
    assert session.organization == local.organization
    assert (session.name, session.source, session.endpoint) == (
        "Build recommendation engine",
        "manual",
        None,
    )
    assert output == (
        f'Started session "Build recommendation engine" ({session.id}) for organization '
        f'"Local" at {session.started_at:%Y-%m-%d %H:%M:%S} UTC.\n'
    )


def test_calls_on_the_local_endpoint_join_the_started_session(local_mode):
    run("start", "Build recommendation engine")

    log = record_call_on(local_endpoint(), tokens=(1000, 100, 0, 0, 0))

    assert log.session.name == "Build recommendation engine"


def test_status_shows_the_name_start_calls_and_cost_so_far(local_mode):
    run("start", "Build recommendation engine")
    record_call_on(local_endpoint(), tokens=(1000, 100, 0, 0, 0))
    record_call_on(local_endpoint(), tokens=(2000, 0, 0, 0, 0))
    session = Session.objects.get()

    output = run("status")

    lines = output.splitlines()
    assert lines[0] == "Active session: Build recommendation engine"
    assert lines[1] == f"  id:       {session.id}"
    assert lines[2] == "  scope:    organization-wide"
    assert re.fullmatch(
        rf"  started:  {session.started_at:%Y-%m-%d %H:%M:%S} UTC \([0-9]+s ago\)", lines[3]
    ), lines[3]
    assert lines[4] == "  calls:    2"
    # 0.45 + 0.6 cents
    assert lines[5] == "  cost:     1.05 cents ($0.0105)"


def test_status_without_a_session_says_so(local_mode):
    assert run("status") == "No active session.\n"


def test_starting_a_new_session_ends_the_previous_one(local_mode):
    run("start", "First")
    record_call_on(local_endpoint())
    first = Session.objects.get(name="First")

    output = run("start", "Second")

    second = Session.objects.get(name="Second")
    first.refresh_from_db()
    assert first.ended_at == second.started_at
    assert (
        output.splitlines()[0]
        == f'Ended session "First" ({first.id}): 1 call, 0.45 cents ($0.0045).'
    )
    assert output.splitlines()[1].startswith(f'Started session "Second" ({second.id})')
    assert record_call_on(local_endpoint()).session_id == second.id


def test_end_ends_the_running_session_and_reports_its_totals(local_mode):
    run("start", "Work")
    record_call_on(local_endpoint(), tokens=(1000, 100, 0, 0, 0))
    record_call_on(local_endpoint(), tokens=(1000, 100, 0, 0, 0))
    session = Session.objects.get()

    output = run("end")

    session.refresh_from_db()
    assert session.ended_at is not None
    assert output == f'Ended session "Work" ({session.id}): 2 calls, 0.9 cents ($0.009).\n'
    assert run("status") == "No active session.\n"
    assert run("end") == "No active session.\n"
    assert record_call_on(local_endpoint()).session is None


def test_an_endpoint_session_wins_and_a_new_organization_wide_one_leaves_it_running(local_mode):
    run("start", "Local only", "--endpoint", "local")
    output = run("start", "Everywhere")

    local_only = Session.objects.get(name="Local only")
    assert local_only.ended_at is None
    assert "Ended" not in output
    assert run("status").splitlines()[0] == "Active session: Local only"
    assert run("status").splitlines()[2] == "  scope:    endpoint local"
    assert record_call_on(local_endpoint()).session_id == local_only.id

    run("end")

    local_only.refresh_from_db()
    assert local_only.ended_at is not None
    assert run("status").splitlines()[0] == "Active session: Everywhere"


def test_a_blank_name_is_refused(local_mode):
    with pytest.raises(CommandError, match="name must not be blank"):
        run("start", "   ")
    assert not Session.objects.exists()


# --- --org --------------------------------------------------------------------------


def test_with_org_it_manages_that_organizations_sessions(org, other_org):
    run("start", "Acme work", "--org", "Acme")
    globex_output = run("start", "Globex work", "--org", "Globex")

    acme = Session.objects.get(organization=org)
    assert acme.name == "Acme work"
    assert acme.ended_at is None
    assert "Ended" not in globex_output
    assert run("status", "--org", "Acme").splitlines()[0] == "Active session: Acme work"
    assert run("end", "--org", "Globex").startswith('Ended session "Globex work"')
    assert run("status", "--org", "Acme").splitlines()[0] == "Active session: Acme work"


def test_with_org_and_endpoint_it_scopes_the_session_to_the_endpoint(org):
    endpoint = ProxyEndpoint.objects.create(organization=org, name="Production", slug="production")

    output = run("start", "Release", "--org", "Acme", "--endpoint", "production")

    session = Session.objects.get()
    assert session.endpoint == endpoint
    assert "for endpoint production" in output
    assert run("status", "--org", "Acme") == "No active session.\n"
    assert run("status", "--org", "Acme", "--endpoint", "production").startswith(
        "Active session: Release"
    )


def test_an_unknown_organization_is_an_error(db):
    with pytest.raises(CommandError, match='No organization named "Nope"'):
        run("status", "--org", "Nope")


def test_another_organizations_endpoint_is_an_error(org, other_org):
    ProxyEndpoint.objects.create(organization=other_org, name="Globex", slug="globex")

    with pytest.raises(CommandError, match='No endpoint "globex" in organization "Acme"'):
        run("start", "Work", "--org", "Acme", "--endpoint", "globex")
    assert not Session.objects.exists()


@pytest.mark.parametrize("action", [["start", "Work"], ["end"], ["status"]])
def test_outside_local_mode_it_needs_org(settings, db, action):
    settings.LOCAL_MODE = False

    with pytest.raises(CommandError, match="Pass --org NAME"):
        run(*action)
    assert not ProxyEndpoint.objects.filter(slug="local").exists()


def test_in_local_mode_before_the_server_ever_started_it_says_to_start_it(settings, db):
    settings.LOCAL_MODE = True

    with pytest.raises(CommandError, match=r"start the proxy once \(make run\)"):
        run("start", "Work")
    assert not Session.objects.exists()
