"""The budgets REST API: /api/budgets and /api/budgets/<id> (issue 14).

Spend is real: usage goes through the usage writer (`usage_log_record_many`), which keeps
the daily totals and rollups the budgets read. The time is set on the one clock the
statuses read (`budgets.selectors.budget_clock`).
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiKey
from accounts.services import api_key_create, organization_time_zone_set
from budgets import selectors, state
from budgets.models import Budget
from proxy.services import proxy_endpoint_create, proxy_endpoint_delete
from tests.conftest import _api_client
from tests.factories import TOKEN_USAGE_COST_CENTS, usage_record
from usage.services.logs import usage_log_record_many

LIST_URL = "/api/budgets"
CALL = Decimal(TOKEN_USAGE_COST_CENTS)  # 1.1175 cents a call (tests.factories)
MARCH_11 = datetime(2026, 3, 11, tzinfo=UTC)  # 10 of March's 31 days gone


def detail_url(budget_id) -> str:
    return f"{LIST_URL}/{budget_id}"


def error(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["error"]


@pytest.fixture(autouse=True)
def states_of_this_test(settings, monkeypatch):
    """Budget states published in this process, forgotten after the test."""
    settings.REDIS_URL = ""
    monkeypatch.setattr(state, "_known", {})
    monkeypatch.setattr(state, "_local_pending", {})


@pytest.fixture
def clock(monkeypatch):
    """Set the time the statuses are computed at: `clock(datetime)`."""

    def set_to(moment: datetime):
        monkeypatch.setattr(selectors, "budget_clock", lambda: moment)

    set_to(MARCH_11)
    return set_to


@pytest.fixture
def member_client(member):
    client = _api_client()
    client.force_login(member)
    return client


def spend(endpoint, at: datetime, calls: int = 1, **attribution):
    usage_log_record_many(
        records=[
            usage_record(endpoint=endpoint, started_at=at.timestamp(), attribution=attribution)
            for _ in range(calls)
        ]
    )


def create(client, **fields):
    response = client.post(LIST_URL, {"name": "Team monthly", "amount_usd": "100", **fields})
    assert response.status_code == 201, response.content
    return response.json()


# --- create -------------------------------------------------------------------------


def test_it_creates_an_organization_budget_with_the_defaults(api_client, org, clock):
    response = api_client.post(LIST_URL, {"name": "Team monthly", "amount_usd": "12.50"})

    assert response.status_code == 201
    body = response.json()
    budget = Budget.objects.get(id=body["id"])
    assert budget.organization == org
    assert budget.amount_cents == Decimal("1250")
    assert body == {
        "id": str(budget.id),
        "name": "Team monthly",
        "scope": "organization",
        "endpoint": None,
        "endpoint_slug": None,
        "person": None,
        "amount_usd": "12.5",
        "period": "month",
        "thresholds": [50, 80, 100],
        "hard_limit": False,
        "hard_limit_usd": None,
        "created_at": budget.created_at.isoformat().replace("+00:00", "Z"),
        "status": {
            "period_start": "2026-03-01T00:00:00Z",
            "period_end": "2026-04-01T00:00:00Z",
            "time_zone": "UTC",
            "spend_usd": "0",
            "percent": 0.0,
            "projection": "linear",
            "projected_usd": "0",
            "blocked": False,
            "resets_in_seconds": 21 * 86400,
        },
    }


def test_it_creates_an_endpoint_budget_by_slug_or_id_and_a_person_budget(api_client, endpoint, clock):
    by_slug = create(api_client, scope="endpoint", endpoint="acme-app", period="day")
    by_id = create(api_client, scope="endpoint", endpoint=str(endpoint.id), period="week")
    alice = create(
        api_client, scope="person", person=" alice ", amount_usd=7.25, thresholds=[100, 25],
        hard_limit=True, hard_limit_usd="9",
    )

    for body in (by_slug, by_id):
        assert (body["scope"], body["endpoint"], body["endpoint_slug"], body["person"]) == (
            "endpoint", str(endpoint.id), "acme-app", None
        )
    assert (by_slug["status"]["period_start"], by_slug["status"]["period_end"]) == (
        "2026-03-11T00:00:00Z", "2026-03-12T00:00:00Z"
    )
    # Weeks start on Monday: March 11, 2026 is a Wednesday.
    assert (by_id["status"]["period_start"], by_id["status"]["period_end"]) == (
        "2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z"
    )
    assert {k: alice[k] for k in ("scope", "endpoint", "person", "amount_usd", "thresholds")} == {
        "scope": "person", "endpoint": None, "person": "alice", "amount_usd": "7.25",
        "thresholds": [25, 100],
    }
    assert (alice["hard_limit"], alice["hard_limit_usd"]) == (True, "9")
    budget = Budget.objects.get(id=alice["id"])
    assert (budget.amount_cents, budget.hard_limit_cents, budget.limit_cents) == (
        Decimal("725"), Decimal("900"), Decimal("900")
    )


def test_amounts_keep_every_digit_down_to_a_ten_thousandth_of_a_cent(api_client):
    body = create(api_client, amount_usd="0.000001")
    assert body["amount_usd"] == "0.000001"
    assert Budget.objects.get(id=body["id"]).amount_cents == Decimal("0.0001")


@pytest.mark.parametrize(
    "fields, messages",
    [
        ({"amount_usd": None}, {"amount_usd": ["This field may not be null."]}),
        ({"name": "", "amount_usd": "100"}, {"name": ["This field may not be blank."]}),
        ({"name": "x" * 101, "amount_usd": "100"}, {"name": ["Ensure this field has no more than 100 characters."]}),
        *[
            ({"amount_usd": value}, {"amount_usd": ["amount_usd must be a number of dollars more than 0, such as 100 or 12.50"]})
            for value in ("0", "-5", "ten", "", True, "NaN", "Infinity", [1])
        ],
        ({"amount_usd": "1.0000001"}, {"amount_usd": ["amount_usd has more than 6 decimal places"]}),
        ({"amount_usd": "10000000000"}, {"amount_usd": ["amount_usd must be less than 10,000,000,000"]}),
        ({"hard_limit_usd": "0"}, {"hard_limit_usd": ["hard_limit_usd must be a number of dollars more than 0, such as 100 or 12.50"]}),
        ({"scope": "team"}, {"scope": ['scope must be one of organization, endpoint, person (not "team")']}),
        ({"period": "year"}, {"period": ['period must be one of day, week, month (not "year")']}),
        ({"hard_limit": "maybe"}, {"hard_limit": ["Must be a valid boolean."]}),
        *[
            ({"thresholds": value}, {"thresholds": [
                "thresholds must be a list of 1 to 10 distinct whole percents from 1 to 1000, such as [50, 80, 100]"
            ]})
            for value in ([], [50, 50], [0], [1001], [50.5], [True], "50,80", list(range(1, 12)))
        ],
        ({"thresholds": None}, {"thresholds": ["This field may not be null."]}),
        ({"scope": "endpoint"}, {"endpoint": ["endpoint is required when scope is endpoint (its id or slug)"]}),
        ({"scope": "endpoint", "endpoint": "nope"}, {"endpoint": ["endpoint 'nope' is not an endpoint of Acme"]}),
        ({"endpoint": "acme-app"}, {"endpoint": ["endpoint is only for a budget of scope endpoint"]}),
        ({"scope": "person", "person": "  "}, {"person": [
            "person is required when scope is person (a key's name or an x-codecosts-user value)"
        ]}),
        ({"scope": "endpoint", "endpoint": "acme-app", "person": "alice"}, {"person": [
            "person is only for a budget of scope person"
        ]}),
    ],
)
def test_it_refuses_bad_input_field_by_field(api_client, endpoint, fields, messages):
    response = api_client.post(LIST_URL, {"name": "Team", "amount_usd": "100", **fields})

    assert response.status_code == 400
    body = error(response)
    assert body["type"] == "invalid_request_error"
    assert body["fields"] == messages
    assert Budget.objects.count() == 0


def test_a_missing_name_and_amount_are_both_reported(api_client):
    body = error(api_client.post(LIST_URL, {}))
    assert body["fields"] == {"name": ["This field is required."], "amount_usd": ["This field is required."]}
    assert body["message"] == "name: This field is required. amount_usd: This field is required."


def test_another_organizations_endpoint_and_a_deleted_one_are_not_found(api_client, org, other_org):
    globex = proxy_endpoint_create(organization=other_org, name="Globex app", slug="globex-app")
    gone = proxy_endpoint_create(organization=org, name="Gone", slug="gone")
    proxy_endpoint_delete(endpoint=gone)

    for given in ("globex-app", str(globex.id), "gone", str(gone.id)):
        response = api_client.post(
            LIST_URL, {"name": "x", "amount_usd": 1, "scope": "endpoint", "endpoint": given}
        )
        assert error(response)["fields"] == {"endpoint": [f"endpoint '{given}' is not an endpoint of Acme"]}


# --- list and read --------------------------------------------------------------------


def test_it_lists_oldest_first_in_cursor_pages(api_client, outsider_client):
    ids = [create(api_client, name=f"b{i}")["id"] for i in range(3)]
    create(outsider_client, name="Globex's")

    first = api_client.get(LIST_URL, {"limit": 2}).json()
    assert [item["id"] for item in first["items"]] == ids[:2]
    assert first["hasMore"] is True and first["nextCursor"]
    second = api_client.get(LIST_URL, {"limit": 2, "cursor": first["nextCursor"]}).json()
    assert ([item["id"] for item in second["items"]], second["hasMore"], second["nextCursor"]) == (
        ids[2:], False, None
    )
    assert error(api_client.get(LIST_URL, {"limit": 101}))["fields"] == {
        "limit": ["limit must be an integer between 1 and 100"]
    }
    assert [item["name"] for item in outsider_client.get(LIST_URL).json()["items"]] == ["Globex's"]


def test_the_list_costs_a_fixed_few_queries_and_two_a_budget_at_most(api_client, org, endpoint, clock):
    organization_time_zone_set(organization=org, time_zone="America/New_York")  # edges from the logs

    def queries(count: int) -> int:
        Budget.objects.all().delete()
        for i in range(count):
            create(api_client, name=f"b{i}", scope="endpoint", endpoint="acme-app")
        with CaptureQueriesContext(connection) as captured:
            assert len(api_client.get(LIST_URL, {"limit": 100}).json()["items"]) == count
        return len(captured)

    one, hundred = queries(1), queries(100)
    assert (hundred - one) == 99 * 2  # the daily totals and the logs at the period's edges
    assert one <= 6  # the key, the membership check, the page, and one budget's two


def test_a_member_reads_and_an_outsider_sees_nothing(api_client, member_client, outsider_client, anonymous_client):
    budget = create(api_client)

    assert member_client.get(detail_url(budget["id"])).json()["id"] == budget["id"]
    assert [item["id"] for item in member_client.get(LIST_URL).json()["items"]] == [budget["id"]]
    assert outsider_client.get(detail_url(budget["id"])).status_code == 404
    assert outsider_client.get(LIST_URL).json()["items"] == []
    assert outsider_client.patch(detail_url(budget["id"]), {"name": "mine"}).status_code == 404
    assert outsider_client.delete(detail_url(budget["id"])).status_code == 404
    assert api_client.get(detail_url("not-a-uuid")).status_code == 404
    assert api_client.get(detail_url(uuid.uuid4())).status_code == 404
    for response in (anonymous_client.get(LIST_URL), anonymous_client.get(detail_url(budget["id"]))):
        assert response.status_code == 401
        assert error(response)["type"] == "authentication_error"
    assert Budget.objects.get(id=budget["id"]).name == "Team monthly"


def test_only_an_owner_changes_budgets(api_client, member_client, org):
    budget = create(api_client)
    refusal = "Only an owner of the organization can change budgets."

    for response in (
        member_client.post(LIST_URL, {"name": "x", "amount_usd": "1"}),
        member_client.patch(detail_url(budget["id"]), {"amount_usd": "1"}),
        member_client.delete(detail_url(budget["id"])),
    ):
        assert response.status_code == 403
        assert error(response) == {"type": "permission_error", "message": refusal, "code": "permission_denied"}
    assert Budget.objects.get().amount_cents == Decimal("10000")


def test_a_proxy_key_is_refused_like_by_every_api(api_client, org):
    budget = create(api_client)
    _, raw = api_key_create(organization=org, name="dev", scope=ApiKey.Scope.PROXY)
    client = _api_client(raw)

    for response in (client.get(LIST_URL), client.get(detail_url(budget["id"])), client.delete(detail_url(budget["id"]))):
        assert response.status_code == 403
        assert "proxy key" in error(response)["message"]
    assert Budget.objects.count() == 1


def test_put_is_not_a_method_here(api_client):
    budget = create(api_client)
    assert api_client.put(detail_url(budget["id"]), {"name": "x", "amount_usd": "1"}).status_code == 405


# --- change and delete ------------------------------------------------------------------


def test_a_patch_changes_what_it_sends_and_keeps_the_rest(api_client, endpoint):
    budget = create(api_client, scope="endpoint", endpoint="acme-app", hard_limit=True)

    changed = api_client.patch(detail_url(budget["id"]), {"amount_usd": "250.75", "thresholds": [90]})
    assert changed.status_code == 200
    body = changed.json()
    assert {k: body[k] for k in ("name", "scope", "endpoint_slug", "amount_usd", "thresholds", "hard_limit")} == {
        "name": "Team monthly", "scope": "endpoint", "endpoint_slug": "acme-app",
        "amount_usd": "250.75", "thresholds": [90], "hard_limit": True,
    }
    # A new scope lets go of the endpoint; null lifts the separate hard limit.
    api_client.patch(detail_url(budget["id"]), {"hard_limit_usd": "300"})
    body = api_client.patch(
        detail_url(budget["id"]), {"scope": "person", "person": "bob", "hard_limit_usd": None}
    ).json()
    assert (body["scope"], body["endpoint"], body["person"], body["hard_limit_usd"]) == ("person", None, "bob", None)
    stored = Budget.objects.get(id=budget["id"])
    assert (stored.endpoint_id, stored.person, stored.hard_limit_cents, stored.amount_cents) == (
        None, "bob", None, Decimal("25075")
    )


def test_a_patch_is_checked_against_what_the_budget_already_is(api_client, endpoint):
    budget = create(api_client, scope="person", person="alice")

    for fields, messages in [
        ({"person": ""}, {"person": ["person is required when scope is person (a key's name or an x-codecosts-user value)"]}),
        ({"endpoint": "acme-app"}, {"endpoint": ["endpoint is only for a budget of scope endpoint"]}),
        ({"scope": "endpoint"}, {"endpoint": ["endpoint is required when scope is endpoint (its id or slug)"]}),
        ({"amount_usd": "0"}, {"amount_usd": ["amount_usd must be a number of dollars more than 0, such as 100 or 12.50"]}),
        ({"name": ""}, {"name": ["This field may not be blank."]}),
    ]:
        response = api_client.patch(detail_url(budget["id"]), fields)
        assert response.status_code == 400
        assert error(response)["fields"] == messages
    stored = Budget.objects.get(id=budget["id"])
    assert (stored.scope, stored.person, stored.amount_cents) == ("person", "alice", Decimal("10000"))


def test_delete_answers_ok_and_the_budget_is_gone(api_client, endpoint, django_capture_on_commit_callbacks):
    spend(endpoint, datetime.now(UTC), calls=2)
    with django_capture_on_commit_callbacks(execute=True):
        budget = create(api_client, amount_usd="0.02", hard_limit=True)
    assert state.read(budget["id"]).blocked is True

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.delete(detail_url(budget["id"]))

    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert Budget.objects.count() == 0
    assert state.read(budget["id"]) is None  # and with it the block
    assert api_client.get(detail_url(budget["id"])).status_code == 404


def test_creating_publishes_the_state_the_proxy_blocks_on(api_client, endpoint, django_capture_on_commit_callbacks):
    spend(endpoint, datetime.now(UTC), calls=2)
    with django_capture_on_commit_callbacks(execute=True):
        budget = create(api_client, amount_usd="0.02", hard_limit=True)

    published = state.read(budget["id"])
    assert (published.spend_cents, published.limit_cents, published.blocked) == ("2.235", "2", True)
    assert (budget["status"]["spend_usd"], budget["status"]["blocked"]) == ("0.02235", True)


def test_a_block_the_proxy_holds_shows_before_the_logs_are_written(api_client, endpoint, django_capture_on_commit_callbacks):
    # One call logged (1.1175 of 2 cents); another ended, still pending: the state the
    # proxy reads blocks (budgets.provisional), the logged spend alone would not.
    spend(endpoint, datetime.now(UTC))
    with django_capture_on_commit_callbacks(execute=True):
        budget = create(api_client, amount_usd="0.02", hard_limit=True)
    held = state.read(budget["id"])
    state.publish(held.with_spend(Decimal("2.235")))

    status = api_client.get(detail_url(budget["id"])).json()["status"]
    assert (status["spend_usd"], status["percent"], status["blocked"]) == ("0.011175", 55.9, True)


# --- spend, percent, projection ---------------------------------------------------------


def test_spend_percent_and_the_linear_projection_at_a_set_time(api_client, org, endpoint, other_org, clock):
    spend(endpoint, datetime(2026, 2, 28, 23, 59, tzinfo=UTC))  # February: another period
    spend(endpoint, datetime(2026, 3, 2, 9, tzinfo=UTC), calls=3)
    spend(endpoint, datetime(2026, 3, 10, 23, 59, tzinfo=UTC), **{"x-codecosts-user": "alice"})
    globex = proxy_endpoint_create(organization=other_org, name="Globex", slug="globex")
    spend(globex, datetime(2026, 3, 5, tzinfo=UTC), calls=5)

    team = create(api_client, amount_usd="1")
    alice = create(api_client, scope="person", person="alice", amount_usd="0.01", hard_limit=True)
    app = create(api_client, scope="endpoint", endpoint="acme-app", amount_usd="0.05", hard_limit=True, hard_limit_usd="0.06")

    spent = 4 * CALL  # 4.47 cents
    assert team["status"] == {
        "period_start": "2026-03-01T00:00:00Z",
        "period_end": "2026-04-01T00:00:00Z",
        "time_zone": "UTC",
        "spend_usd": "0.0447",
        "percent": 4.5,  # 4.47 of 100 cents
        "projection": "linear",
        "projected_usd": "0.13857",  # 4.47 cents over 10 days: 31 days make 13.857
        "blocked": False,
        "resets_in_seconds": 21 * 86400,
    }
    assert Decimal(team["status"]["projected_usd"]) * 100 == spent * 31 / 10
    # alice: 1.1175 of 1 cent, blocked by her hard limit, on course for 3.46425 (kept to
    # 1e-4 cents); the endpoint: 4.47 of its 6-cent limit.
    assert {k: alice["status"][k] for k in ("spend_usd", "percent", "projected_usd", "blocked")} == {
        "spend_usd": "0.011175", "percent": 111.8, "projected_usd": "0.034643", "blocked": True,
    }
    assert {k: app["status"][k] for k in ("spend_usd", "percent", "blocked")} == {
        "spend_usd": "0.0447", "percent": 89.4, "blocked": False,
    }

    # Later in the month the same spend projects lower; a new month starts from nothing.
    clock(datetime(2026, 3, 21, 12, tzinfo=UTC))
    # 4.47 cents over 20.5 days: 6.7595 by the 31st.
    assert api_client.get(detail_url(team["id"])).json()["status"]["projected_usd"] == "0.067595"
    clock(datetime(2026, 4, 1, tzinfo=UTC))
    later = api_client.get(detail_url(team["id"])).json()["status"]
    assert (later["period_start"], later["spend_usd"], later["percent"], later["projected_usd"]) == (
        "2026-04-01T00:00:00Z", "0", 0.0, "0"
    )


def test_a_day_budget_in_new_york_follows_its_calendar_day_across_the_dst_change(api_client, org, endpoint, clock):
    # March 8, 2026: New York springs forward, a 23-hour day from 05:00Z to 04:00Z.
    organization_time_zone_set(organization=org, time_zone="America/New_York")
    spend(endpoint, datetime(2026, 3, 8, 4, 59, tzinfo=UTC))  # 23:59 on the 7th, New York
    spend(endpoint, datetime(2026, 3, 8, 5, 0, tzinfo=UTC))  # midnight
    spend(endpoint, datetime(2026, 3, 9, 3, 0, tzinfo=UTC))  # 23:00 EDT on the 8th
    spend(endpoint, datetime(2026, 3, 9, 4, 0, tzinfo=UTC))  # the 9th
    clock(datetime(2026, 3, 9, 3, 30, tzinfo=UTC))  # 23:30 on the 8th: 22.5 of 23 hours gone

    status = create(api_client, period="day", amount_usd="0.1")["status"]

    assert status == {
        "period_start": "2026-03-08T05:00:00Z",
        "period_end": "2026-03-09T04:00:00Z",
        "time_zone": "America/New_York",
        "spend_usd": "0.02235",
        "percent": 22.4,  # 2.235 of 10 cents
        "projection": "linear",
        "projected_usd": "0.022847",  # 2.235 × 23 / 22.5 = 2.28467 cents
        "blocked": False,
        "resets_in_seconds": 1800,
    }
