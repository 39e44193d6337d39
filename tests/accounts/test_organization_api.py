"""The organization API: GET|PATCH /api/organization, the caller's own (issue 15).

Members read, owners (and full keys) change; there is no id in the path, so an outsider
only ever reads and changes their own organization.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Organization
from budgets import state
from budgets.periods import period_bounds
from budgets.services import budget_create
from tests.conftest import _api_client

pytestmark = pytest.mark.django_db

URL = "/api/organization"


def error(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["error"]


@pytest.fixture
def member_client(member):
    client = _api_client()
    client.force_login(member)
    return client


def test_a_member_reads_the_organizations_settings(member_client, org):
    response = member_client.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "id": str(org.id),
        "name": "Acme",
        "time_zone": "UTC",
        "body_retention_days": 30,
        "usage_retention_days": None,
        "redaction_patterns": [],
    }


def test_an_owner_changes_retention_and_patterns(api_client, org):
    response = api_client.patch(
        URL,
        {"body_retention_days": 7, "usage_retention_days": 400, "redaction_patterns": ["ACME-[0-9]{6}", " x "]},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["body_retention_days"], body["usage_retention_days"]) == (7, 400)
    assert body["redaction_patterns"] == ["ACME-[0-9]{6}", " x "]  # exactly as sent
    org.refresh_from_db()
    assert (org.body_retention_days, org.usage_retention_days, org.redaction_patterns) == (
        7, 400, ["ACME-[0-9]{6}", " x "],
    )
    # Back to keeping usage for ever; what is not sent stays.
    assert api_client.patch(URL, {"usage_retention_days": None}).json()["usage_retention_days"] is None
    org.refresh_from_db()
    assert (org.body_retention_days, org.usage_retention_days) == (7, None)


def test_an_owner_renames_the_organization(owner_session_client, org):
    response = owner_session_client.patch(URL, {"name": "  Acme Corp  "})

    assert (response.status_code, response.json()["name"]) == (200, "Acme Corp")
    org.refresh_from_db()
    assert org.name == "Acme Corp"


def test_a_member_cannot_change_anything(member_client, org):
    response = member_client.patch(URL, {"body_retention_days": 1})

    assert response.status_code == 403
    assert error(response)["message"] == "Only an owner of the organization can change its settings."
    org.refresh_from_db()
    assert org.body_retention_days == 30


def test_an_outsider_reads_and_changes_only_their_own(outsider_client, org, other_org):
    assert outsider_client.get(URL).json()["id"] == str(other_org.id)

    response = outsider_client.patch(URL, {"body_retention_days": 3, "redaction_patterns": ["globex"]})

    assert response.json()["id"] == str(other_org.id)
    org.refresh_from_db()
    other_org.refresh_from_db()
    assert (org.body_retention_days, org.redaction_patterns) == (30, [])
    assert (other_org.body_retention_days, other_org.redaction_patterns) == (3, ["globex"])


def test_nobody_and_a_proxy_key_get_json_errors(anonymous_client, org):
    from accounts.models import ApiKey
    from accounts.services import api_key_create

    assert anonymous_client.get(URL).status_code == 401
    assert error(anonymous_client.patch(URL, {"body_retention_days": 1}))["type"] == "authentication_error"
    _, raw = api_key_create(organization=org, scope=ApiKey.Scope.PROXY)
    response = _api_client(raw).patch(URL, {"body_retention_days": 1})
    assert response.status_code == 403
    assert "proxy key" in error(response)["message"]
    org.refresh_from_db()
    assert org.body_retention_days == 30


def test_put_and_delete_are_not_allowed(api_client):
    assert api_client.put(URL, {"name": "x"}).status_code == 405
    assert api_client.delete(URL).status_code == 405
    assert Organization.objects.filter(name="Acme").exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"body_retention_days": 0}, "body_retention_days", "body_retention_days must be a whole number of days from 1 to 3650"),
        ({"body_retention_days": 3651}, "body_retention_days", "body_retention_days must be a whole number of days from 1 to 3650"),
        ({"body_retention_days": None}, "body_retention_days", "This field may not be null."),
        ({"body_retention_days": "many"}, "body_retention_days", "A valid integer is required."),
        (
            {"usage_retention_days": 36501},
            "usage_retention_days",
            "usage_retention_days must be a whole number of days from 1 to 36500, or none to keep usage logs for ever",
        ),
        (
            {"usage_retention_days": 7},
            "usage_retention_days",
            "usage_retention_days (7) must be at least body_retention_days (30): a call's bodies are "
            "deleted with its log, so they cannot be kept longer than it",
        ),
        ({"redaction_patterns": ["ok", "(unclosed"]}, "redaction_patterns",
         "Pattern 2 ('(unclosed') is not a regular expression: missing ), unterminated subpattern at position 0."),
        ({"redaction_patterns": ["a*"]}, "redaction_patterns",
         "Pattern 1 ('a*') matches an empty text, so it would redact between every two characters."),
        ({"redaction_patterns": ["ok", ""]}, "redaction_patterns", "Pattern 2 is empty."),
        ({"redaction_patterns": ["x" * 201]}, "redaction_patterns",
         f"Pattern 1 ('{'x' * 40}…') has 201 characters; at most 200."),
        ({"redaction_patterns": [f"p{n}" for n in range(21)]}, "redaction_patterns",
         "At most 20 redaction patterns (not 21)."),
        ({"redaction_patterns": "sk-.*"}, "redaction_patterns", 'Expected a list of items but got type "str".'),
        ({"time_zone": "Mars/Olympus"}, "time_zone",
         "time_zone must be an IANA time zone name, such as UTC, America/New_York or Europe/Paris (not 'Mars/Olympus')"),
        ({"name": "  "}, "name", "name must not be blank"),
        ({"id": "00000000-0000-0000-0000-000000000000"}, "id",
         "id is not a setting that can be changed (these are: name, time_zone, body_retention_days, "
         "usage_retention_days, redaction_patterns)"),
        ({"body_retention": 7}, "body_retention",
         "body_retention is not a setting that can be changed (these are: name, time_zone, "
         "body_retention_days, usage_retention_days, redaction_patterns)"),
    ],
)
def test_bad_input_is_a_json_error_naming_the_field_and_changes_nothing(api_client, org, fields, field, message):
    before = Organization.objects.filter(id=org.id).values().get()

    response = api_client.patch(URL, fields)

    assert response.status_code == 400
    assert error(response)["fields"] == {field: [message]}
    assert message.rstrip(".") in error(response)["message"]
    assert Organization.objects.filter(id=org.id).values().get() == before


def test_every_faulty_field_is_reported_at_once(api_client, org):
    response = api_client.patch(
        URL, {"body_retention_days": 0, "redaction_patterns": ["(", "ok", "[z-a]"], "name": "New"}
    )

    fields = error(response)["fields"]
    assert set(fields) == {"body_retention_days", "redaction_patterns"}
    assert [text.split(" (")[0] for text in fields["redaction_patterns"]] == ["Pattern 1", "Pattern 3"]
    org.refresh_from_db()
    assert org.name == "Acme"  # nothing changed, not even the valid field


def test_bodies_longer_than_usage_is_refused_from_either_side(api_client, org):
    assert api_client.patch(URL, {"usage_retention_days": 60}).status_code == 200

    response = api_client.patch(URL, {"body_retention_days": 90})

    assert response.status_code == 400
    assert error(response)["code"] == "retention_order"
    assert "body_retention_days" in error(response)["fields"]
    # Both at once, in an order that holds, is fine.
    response = api_client.patch(URL, {"body_retention_days": 90, "usage_retention_days": 90})
    assert (response.status_code, response.json()["body_retention_days"]) == (200, 90)


def test_a_new_time_zone_moves_the_budget_periods_as_the_settings_page_does(
    api_client, org, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.REDIS_URL = ""
    monkeypatch.setattr(state, "_known", {})
    monkeypatch.setattr(state, "_local_pending", {})
    day = budget_create(organization=org, name="Daily", amount_cents=Decimal(10), period="day", hard_limit=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.patch(URL, {"time_zone": "America/New_York"})

    assert response.json()["time_zone"] == "America/New_York"
    start, _ = period_bounds("day", "America/New_York", datetime.now(UTC))
    assert state.read(str(day.id)).period_start == start.timestamp()


def test_the_change_is_told_to_the_other_apps_once_committed(api_client, org, django_capture_on_commit_callbacks):
    from accounts.signals import organization_changed

    heard = []

    def listener(sender, organization, fields, **kwargs):
        heard.append((organization.pk, fields))

    organization_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            api_client.patch(URL, {"redaction_patterns": ["ACME-[0-9]+"], "body_retention_days": 30})
        with django_capture_on_commit_callbacks(execute=True):
            api_client.patch(URL, {"body_retention_days": 30})  # no change: nothing to tell
    finally:
        organization_changed.disconnect(listener)
    assert heard == [(org.pk, frozenset({"redaction_patterns"}))]
