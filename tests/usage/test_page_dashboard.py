"""The dashboard: / (name "dashboard")."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from proxy.services import proxy_endpoint_create, proxy_endpoint_update
from tests.usage.test_page_logs import at, record_call
from usage.money import Money, dollars_display, dollars_exact
from usage.reports.period import period_from_params

pytestmark = pytest.mark.django_db

WEEK = "since=2026-11-15&until=2026-11-21"


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


# --- Money -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "shown"),
    [
        (Decimal("0"), "$0.00"),
        (Decimal("0.01"), "$0.0001"),
        (Decimal("0.0085"), "$0.000085"),
        (Decimal("1.383"), "$0.0138"),
        (Decimal("50"), "$0.50"),
        (Decimal("99.996"), "$1.00"),
        (Decimal("1234.5"), "$12.35"),
        (Decimal("123456789"), "$1,234,567.89"),
        (Decimal("0.0000000001"), "<$0.0000000001"),
    ],
)
def test_money_shows_small_amounts_with_three_significant_digits(cents, shown):
    assert dollars_display(cents) == shown


def test_money_keeps_every_digit_for_the_exact_value():
    assert dollars_exact(Decimal("1.4130000000")) == "0.01413"
    assert dollars_exact(Decimal("0.0123456789")) == "0.000123456789"
    assert Money(Decimal("1.383")).exact == "$0.01383"
    assert Money(None).exact == "unpriced"
    assert str(Money(None)) == "—"


# --- Period ----------------------------------------------------------------------------


def test_the_period_defaults_to_the_last_30_days_including_today():
    period = period_from_params({}, today=date(2026, 11, 22))

    assert (period.since, period.until, period.preset) == (
        date(2026, 10, 24),
        date(2026, 11, 22),
        30,
    )


def test_the_period_takes_7_or_90_days_or_custom_dates():
    today = date(2026, 11, 22)

    assert period_from_params({"days": "7"}, today=today).since == date(2026, 11, 16)
    assert period_from_params({"days": "90"}, today=today).days == 90
    custom = period_from_params({"since": "2026-11-01", "until": "2026-11-03"}, today=today)
    assert (custom.since, custom.until, custom.preset, custom.days) == (
        date(2026, 11, 1),
        date(2026, 11, 3),
        None,
        3,
    )


def test_a_bad_custom_period_says_why_and_falls_back_to_30_days():
    reversed_ = period_from_params(
        {"since": "2026-11-05", "until": "2026-11-01"}, today=date(2026, 11, 22)
    )
    garbage = period_from_params({"since": "yesterday"}, today=date(2026, 11, 22))

    assert reversed_.error == "The start date must not be after the end date."
    assert garbage.error == "Dates must look like 2026-01-31."
    assert reversed_.days == garbage.days == 30


# --- Pages ------------------------------------------------------------------------------


def test_the_dashboard_requires_login(db):
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/"


def test_a_new_organization_without_endpoint_is_walked_through_setup(owner_client):
    response = owner_client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["setup"] is True
    assert "Create a proxy endpoint" in html
    assert 'href="/settings#endpoints"' in html
    assert "export ANTHROPIC_BASE_URL=" in html
    assert "Make your first call" in html


def test_an_endpoint_without_calls_shows_its_export_line_and_a_first_call(owner_client, endpoint):
    response = owner_client.get("/")

    html = response.content.decode()
    assert response.context["first_endpoint"] == endpoint
    assert "export ANTHROPIC_BASE_URL=http://testserver/proxy/acme-app" in html
    assert "curl http://testserver/proxy/acme-app/v1/messages" in html
    # A new endpoint is locked: the walkthrough's commands send the caller's key.
    assert "export ANTHROPIC_CUSTOM_HEADERS=&quot;x-codecosts-key: $CODECOSTS_KEY&quot;" in html
    assert '-H &quot;x-codecosts-key: $CODECOSTS_KEY&quot;' in html


def test_an_open_endpoints_walkthrough_sends_no_codecosts_key(owner_client, endpoint):
    proxy_endpoint_update(endpoint=endpoint, require_key=False)

    html = owner_client.get("/").content.decode()

    assert (
        '<pre id="first-export">export ANTHROPIC_BASE_URL=http://testserver/proxy/acme-app\nclaude</pre>'
        in html
    )
    assert "x-codecosts-key" not in html


def test_totals_add_up_cost_calls_tokens_errors_and_cache_savings(member_client, endpoint):
    record_call(endpoint, started_at=at(20))  # 2095 in, 503 out: $0.01383
    record_call(endpoint, started_at=at(21), cache_read_tokens=10_000)  # + reads $0.003
    record_call(
        endpoint,
        started_at=at(21),
        status_code=529,
        outcome="upstream_error",
        input_tokens=0,
        output_tokens=0,
    )
    record_call(endpoint, started_at=at(10))  # outside the period

    response = member_client.get(f"/?{WEEK}")

    totals = response.context["totals"]
    assert totals.cost.cents == Decimal("3.066")  # $0.01383 + $0.01683
    assert str(totals.cost) == "$0.0307"
    assert totals.calls == 3
    assert totals.error_calls == 1
    assert totals.error_rate == "33.3%"
    assert totals.tokens["input_tokens"] == 4190
    assert totals.tokens["output_tokens"] == 1006
    assert totals.tokens["cache_read_tokens"] == 10_000
    # 10,000 reads at $0.30 instead of $3 per MTok saved $0.027.
    assert totals.cache_savings.cents == Decimal("2.7")
    html = response.content.decode()
    assert "$0.0307" in html and "$0.027" in html and "33.3%" in html


def test_cost_per_endpoint_per_day_is_a_stacked_svg_chart(member_client, org, endpoint):
    batch = proxy_endpoint_create(organization=org, name="Batch", slug="acme-batch")
    record_call(endpoint, started_at=at(20))
    record_call(
        batch, started_at=at(20), model="claude-haiku-4-5", input_tokens=25, output_tokens=15
    )
    record_call(batch, started_at=at(21))

    response = member_client.get(f"/?{WEEK}")

    chart = response.context["chart"]
    assert [(row.label, str(row.cost)) for row in chart.legend] == [
        ("acme-batch", "$0.0139"),  # $0.01383 + $0.0001
        ("acme-app", "$0.0138"),
    ]
    titles = sorted(bar.title for bar in chart.bars)
    assert titles == [
        "2026-11-20 · acme-app: $0.0138",
        "2026-11-20 · acme-batch: $0.0001",
        "2026-11-21 · acme-batch: $0.0138",
    ]
    # The axis runs to the next round amount above the costliest day ($0.01393).
    assert [tick["label"] for tick in chart.y_ticks] == [
        "$0.00",
        "$0.005",
        "$0.01",
        "$0.015",
        "$0.02",
    ]
    plot_height = chart.plot_bottom - chart.plot_top
    day_21 = next(b for b in chart.bars if b.title.startswith("2026-11-21"))
    assert day_21.height == pytest.approx(plot_height * 1.383 / 2, abs=0.01)
    # The two bars of Nov 20 stack: one starts where the other ends.
    day_20 = sorted((b for b in chart.bars if b.title.startswith("2026-11-20")), key=lambda b: b.y)
    assert day_20[0].y + day_20[0].height == pytest.approx(day_20[1].y, abs=0.6)
    html = response.content.decode()
    assert "<svg" in html and "<rect" in html
    assert "http" not in html.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_cost_by_model_is_ordered_by_cost(member_client, endpoint):
    record_call(
        endpoint, started_at=at(20), model="claude-haiku-4-5", input_tokens=25, output_tokens=15
    )
    record_call(endpoint, started_at=at(20))
    record_call(endpoint, started_at=at(21))

    response = member_client.get(f"/?{WEEK}")

    rows = [(row.label, row.calls, str(row.cost)) for row in response.context["models"]]
    assert rows == [("claude-sonnet-4-6", 2, "$0.0277"), ("claude-haiku-4-5", 1, "$0.0001")]


def test_the_most_expensive_sessions_come_first(member_client, org, endpoint):
    record_call(endpoint, started_at=timezone.now() - timedelta(hours=2), session_name="cheap")
    for _ in range(3):
        record_call(endpoint, started_at=timezone.now() - timedelta(hours=1), session_name="pricey")

    response = member_client.get("/?days=7")

    assert [s.name for s in response.context["sessions"]] == ["pricey", "cheap"]
    assert str(response.context["sessions"][0].cost) == "$0.0415"  # 3 × $0.01383


def test_presets_select_the_period(member_client, endpoint):
    record_call(endpoint, started_at=timezone.now() - timedelta(days=20))

    seven = member_client.get("/?days=7").context["totals"]
    thirty = member_client.get("/?days=30").context["totals"]

    assert (seven.calls, thirty.calls) == (0, 1)


def test_the_dashboard_never_counts_another_organizations_usage(owner_client, endpoint, other_org):
    foreign = proxy_endpoint_create(organization=other_org, name="G", slug="globex-x")
    record_call(foreign, started_at=at(20), session_name="globex work")
    record_call(endpoint, started_at=at(20))

    response = owner_client.get(f"/?{WEEK}")

    assert response.context["totals"].calls == 1
    html = response.content.decode()
    assert "globex" not in html.lower()


def test_a_user_in_no_organization_is_told_so(db):
    from django.contrib.auth import get_user_model

    loner = get_user_model().objects.create_user(username="loner")
    client = Client()
    client.force_login(loner)

    for path in ("/", "/logs", "/sessions", "/settings", "/members"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "You are not a member of any organization" in response.content.decode()
