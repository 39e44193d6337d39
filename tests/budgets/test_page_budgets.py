"""Budgets on pages: the Settings page's section (list, create, delete, the time zone)
and the dashboard's burn-rate card, for the owner, a member and an outsider.

Spend goes through the usage writer; the time is set on budgets.selectors.budget_clock.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

import pytest

from accounts.services import organization_time_zone_set
from budgets import selectors, state
from budgets.destinations import alert_destination_create
from budgets.models import AlertDelivery, AlertDestination, Budget
from budgets.periods import period_bounds
from budgets.services import budget_create
from budgets.tasks import alert_deliver
from proxy.services import proxy_endpoint_create
from tests.factories import usage_record
from usage.services.logs import usage_log_record_many

pytestmark = pytest.mark.django_db

MARCH_11 = datetime(2026, 3, 11, tzinfo=UTC)  # 10 of March's 31 days gone
FORM = {
    "name": "Team monthly", "scope": "organization", "endpoint": "", "person": "", "amount_usd": "100",
    "period": "month", "thresholds": "50, 80, 100", "hard_limit_usd": "",
}


@pytest.fixture(autouse=True)
def states_of_this_test(settings, monkeypatch):
    settings.REDIS_URL = ""
    monkeypatch.setattr(state, "_known", {})
    monkeypatch.setattr(state, "_local_pending", {})
    monkeypatch.setattr(selectors, "budget_clock", lambda: MARCH_11)



def spend(endpoint, at: datetime, calls: int = 1, **attribution):
    usage_log_record_many(
        records=[
            usage_record(endpoint=endpoint, started_at=at.timestamp(), attribution=attribution)
            for _ in range(calls)
        ]
    )


def row(html: str, budget: Budget, prefix: str = "budget") -> str:
    """The text of a budget's row, its cells joined by " | "."""
    found = re.search(rf'<tr id="{prefix}-{budget.id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row for {budget.name}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)
    return " | ".join(" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells).strip()


@pytest.fixture
def budgets(org, endpoint):
    """Acme in March 2026: 4.47 cents spent, 1.1175 of them by alice."""
    spend(endpoint, datetime(2026, 3, 2, 9, tzinfo=UTC), calls=3)
    spend(endpoint, datetime(2026, 3, 10, 9, tzinfo=UTC), **{"x-codecosts-user": "alice"})
    return {
        "team": budget_create(organization=org, name="Team monthly", amount_cents=Decimal(100), period="month"),
        "alice": budget_create(
            organization=org, name="Alice", scope="person", person="alice", amount_cents=Decimal(1),
            hard_limit=True, period="month",
        ),
        "app": budget_create(
            organization=org, name="App", scope="endpoint", endpoint=endpoint, amount_cents=Decimal("10"),
            hard_limit=True, hard_limit_cents=Decimal(20), period="month",
        ),
    }


# --- The Settings page's section ------------------------------------------------------------


def test_settings_lists_each_budget_with_its_spend_projection_and_limit(member_page, budgets):
    html = member_page.get("/settings").content.decode()

    assert row(html, budgets["team"]) == (
        "Team monthly | organization | $1.00 a month | $0.0447 4.5% | $0.139 | none |"
    )
    assert row(html, budgets["alice"]) == (
        "Alice blocked | person alice | $0.01 a month | $0.0112 111.8% | $0.0346 over | $0.01 |"
    )
    assert row(html, budgets["app"]) == (
        "App | endpoint acme-app | $0.10 a month | $0.0447 44.7% | $0.139 over | $0.20 |"
    )
    # The bars: their width is the share spent (an SVG attribute, the CSP allows no style).
    assert '<rect width="4.5" height="1">' in html
    assert '<svg class="bar over" viewBox="0 0 100 1" preserveAspectRatio="none" role="img" aria-label="111.8% spent"><rect width="100.0" height="1">' in html
    assert f'<tr id="budget-{budgets["app"].id}" class="over">' in html
    assert 'id="organization-time-zone">UTC<' in html
    # A member reads; only an owner writes.
    assert "/settings/budgets/" not in html and 'id="budget-form"' not in html
    assert "Only owners can create and delete budgets and set the time zone." in html


def test_an_owner_gets_the_forms_and_delete_buttons_with_a_confirmation(owner_page, budgets):
    html = unescape(owner_page.get("/settings").content.decode())

    assert 'id="budget-form"' in html and 'id="time-zone-form"' in html
    assert (
        f'<form method="post" action="/settings/budgets/{budgets["alice"].id}/delete" class="inline" '
        'data-confirm="Delete the budget Alice? Its hard limit stops refusing calls.">'
    ) in html
    assert '<option value="acme-app" >acme-app</option>' in html
    assert '<option value="America/New_York">' in html


def test_an_owner_creates_a_budget_from_the_form(owner_page, org, endpoint):
    response = owner_page.post(
        "/settings/budgets",
        {**FORM, "name": "App daily", "scope": "endpoint", "endpoint": "acme-app", "person": "ignored",
         "amount_usd": "12.50", "period": "day", "thresholds": "80%, 50", "hard_limit": "1", "hard_limit_usd": "15"},
    )

    budget = Budget.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/settings#budget-{budget.id}")
    assert (budget.organization, budget.name, budget.scope, budget.endpoint, budget.person) == (
        org, "App daily", "endpoint", endpoint, ""
    )
    assert (budget.amount_cents, budget.period, budget.thresholds, budget.hard_limit, budget.hard_limit_cents) == (
        Decimal("1250"), "day", [50, 80], True, Decimal("1500")
    )
    assert "Budget “App daily” created: $12.50 a day." in owner_page.get("/settings").content.decode()


def test_blank_thresholds_are_the_defaults_and_no_box_no_hard_limit(owner_page):
    owner_page.post("/settings/budgets", {**FORM, "thresholds": " "})
    budget = Budget.objects.get()
    assert (budget.thresholds, budget.hard_limit, budget.hard_limit_cents) == ([50, 80, 100], False, None)


@pytest.mark.parametrize(
    "fields, messages",
    [
        ({"name": " "}, ["This field may not be blank."]),
        ({"amount_usd": "ten"}, ["amount_usd must be a number of dollars more than 0, such as 100 or 12.50"]),
        ({"amount_usd": "0", "period": "year"}, [
            "amount_usd must be a number of dollars more than 0, such as 100 or 12.50",
            'period must be one of day, week, month (not "year")',
        ]),
        ({"thresholds": "50, 50"}, [
            "thresholds must be a list of 1 to 10 distinct whole percents from 1 to 1000, such as [50, 80, 100]"
        ]),
        ({"scope": "endpoint"}, ["endpoint is required when scope is endpoint (its id or slug)"]),
        ({"scope": "person"}, ["person is required when scope is person (a key's name or an x-codecosts-user value)"]),
        ({"hard_limit_usd": "-1"}, ["hard_limit_usd must be a number of dollars more than 0, such as 100 or 12.50"]),
    ],
)
def test_bad_input_shows_the_apis_messages_and_keeps_what_was_typed(owner_page, fields, messages):
    response = owner_page.post("/settings/budgets", {**FORM, "name": "Kept name", **fields})

    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(r'<ul class="errorlist" id="budget-errors">(.*?)</ul>', html, re.S).group(1)
    assert [unescape(text) for text in re.findall(r"<li>(.*?)</li>", errors)] == messages
    if "name" not in fields:
        assert 'value="Kept name"' in html
    assert not Budget.objects.exists()


def test_an_owner_deletes_a_budget(owner_page, budgets, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_page.post(f"/settings/budgets/{budgets['alice'].id}/delete")

    assert (response.status_code, response["Location"]) == (302, "/settings#budgets")
    assert not Budget.objects.filter(id=budgets["alice"].id).exists()
    assert "Budget “Alice” deleted" in owner_page.get("/settings").content.decode()


def test_a_member_can_neither_create_nor_delete_nor_set_the_zone(member_page, org, budgets):
    assert member_page.post("/settings/budgets", FORM).status_code == 403
    assert member_page.post(f"/settings/budgets/{budgets['team'].id}/delete").status_code == 403
    assert member_page.post("/settings/time-zone", {"time_zone": "Europe/Paris"}).status_code == 403
    org.refresh_from_db()
    assert (Budget.objects.count(), org.time_zone) == (3, "UTC")


def test_an_outsider_sees_none_of_it_and_cannot_delete_it(outsider_page, budgets):
    html = outsider_page.get("/settings").content.decode()
    assert not any(str(budget.id) in html for budget in budgets.values())
    assert "No budget yet." in html
    assert outsider_page.post(f"/settings/budgets/{budgets['team'].id}/delete").status_code == 404
    assert Budget.objects.count() == 3


def test_the_time_zone_moves_the_periods(owner_page, org, endpoint, django_capture_on_commit_callbacks):
    day = budget_create(organization=org, name="Daily", amount_cents=Decimal(10), period="day", hard_limit=True)
    # At 00:00Z on March 11 it is 20:00 on the 10th in New York: a call at 23:00Z on the
    # 10th is in yesterday's UTC day but in today's New York one.
    spend(endpoint, datetime(2026, 3, 10, 23, tzinfo=UTC))
    assert row(owner_page.get("/settings").content.decode(), day).startswith(
        "Daily | organization | $0.10 a day | $0.00 0.0% |"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_page.post("/settings/time-zone", {"time_zone": " America/New_York "})

    assert (response.status_code, response["Location"]) == (302, "/settings#budgets")
    org.refresh_from_db()
    assert org.time_zone == "America/New_York"
    html = owner_page.get("/settings").content.decode()
    assert "Time zone set to America/New_York: budget periods follow its calendar." in html
    assert 'id="organization-time-zone">America/New_York<' in html
    assert row(html, day).startswith("Daily | organization | $0.10 a day | $0.0112 11.2% |")
    # The hot path's state was recomputed in the new zone (published on commit, now).
    start, _ = period_bounds("day", "America/New_York", datetime.now(UTC))
    assert state.read(str(day.id)).period_start == start.timestamp()


@pytest.mark.parametrize("value", ["Mars/Olympus", "", "america/new_york"])
def test_an_unknown_time_zone_is_a_form_error(owner_page, org, value):
    response = owner_page.post("/settings/time-zone", {"time_zone": value})

    assert response.status_code == 400
    assert (
        "time_zone must be an IANA time zone name, such as UTC, America/New_York or Europe/Paris "
        f"(not {value!r})"
    ) in unescape(response.content.decode())
    org.refresh_from_db()
    assert org.time_zone == "UTC"


def test_alert_destinations_are_listed_without_their_secret_urls(member_page, org, other_org):
    alert_destination_create(organization=org, kind=AlertDestination.Kind.EMAIL, target="ops@acme.example")
    alert_destination_create(
        organization=org, kind=AlertDestination.Kind.SLACK, target="https://hooks.slack.com/services/T0/B0/secret"
    )
    alert_destination_create(organization=other_org, kind=AlertDestination.Kind.EMAIL, target="ops@globex.example")

    html = member_page.get("/settings").content.decode()
    section = re.search(r'<div id="alert-destinations">(.*?)</div>', html, re.S).group(1)
    assert [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in re.findall(r"<li>(.*?)</li>", section, re.S)] == [
        f"Email: ops@acme.example since {datetime.now(UTC):%Y-%m-%d}",
        f"Slack incoming webhook: hooks.slack.com/… since {datetime.now(UTC):%Y-%m-%d}",
    ]
    assert "secret" not in section


# --- The dashboard's burn rate --------------------------------------------------------------


def test_the_dashboard_shows_each_budgets_burn_rate_and_warns_of_an_overrun(member_page, budgets):
    html = member_page.get("/").content.decode()

    assert row(html, budgets["team"], "budget-card") == "Team monthly this month | $0.0447 4.5% | $1.00 | $0.139"
    assert row(html, budgets["alice"], "budget-card") == (
        "Alice this month · alice blocked | $0.0112 111.8% | $0.01 | $0.0346 on course to exceed"
    )
    assert row(html, budgets["app"], "budget-card") == (
        "App this month · acme-app | $0.0447 44.7% | $0.10 | $0.139 on course to exceed"
    )
    assert f'<tr id="budget-card-{budgets["team"].id}" class="">' in html
    assert f'<tr id="budget-card-{budgets["app"].id}" class="over">' in html
    assert "Periods follow the organization's calendar (UTC)" in html


def test_the_dashboard_has_no_budget_card_without_budgets_nor_anothers(member_page, endpoint, other_org):
    spend(endpoint, datetime(2026, 3, 2, tzinfo=UTC))
    budget_create(organization=other_org, name="Globex", amount_cents=Decimal(1))

    html = member_page.get("/").content.decode()
    assert 'id="budget-cards"' not in html and "Globex" not in html


def test_a_day_budget_in_new_york_on_the_dashboard(member_page, org, endpoint, monkeypatch):
    organization_time_zone_set(organization=org, time_zone="America/New_York")
    spend(endpoint, datetime(2026, 3, 8, 4, 59, tzinfo=UTC))  # 23:59 on the 7th there
    spend(endpoint, datetime(2026, 3, 8, 5, tzinfo=UTC), calls=2)  # midnight on the 8th
    monkeypatch.setattr(selectors, "budget_clock", lambda: datetime(2026, 3, 8, 16, 30, tzinfo=UTC))
    day = budget_create(organization=org, name="Daily", amount_cents=Decimal(3), period="day")

    # 2.235 cents in 11.5 of the day's 23 hours (DST): 4.47 by midnight, over the 3 cents.
    assert row(member_page.get("/").content.decode(), day, "budget-card") == (
        "Daily today | $0.0224 74.5% | $0.03 | $0.0447 on course to exceed"
    )


def test_a_page_with_a_budget_on_a_later_deleted_endpoint_still_renders(owner_page, org):
    from proxy.services import proxy_endpoint_delete

    gone = proxy_endpoint_create(organization=org, name="Gone", slug="gone")
    budget = budget_create(organization=org, name="Old", scope="endpoint", endpoint=gone, amount_cents=Decimal(1))
    proxy_endpoint_delete(endpoint=gone)

    assert row(owner_page.get("/settings").content.decode(), budget).startswith("Old | endpoint gone |")


# --- Alert destinations and their delivery log ----------------------------------------------


def test_an_owner_adds_destinations_and_a_webhook_shows_its_secret_once(owner_page, org, settings):
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = True
    response = owner_page.post("/settings/alert-destinations", {"kind": "email", "target": "ops@acme.example"}, follow=True)
    assert "Alerts will also go to email ops@acme.example." in unescape(response.content.decode())
    response = owner_page.post("/settings/alert-destinations", {"kind": "webhook", "target": "http://127.0.0.1:9/hook"}, follow=True)
    webhook = AlertDestination.objects.get(organization=org, kind="webhook")
    assert f"Its signing secret, shown once: {webhook.secret}" in unescape(response.content.decode())
    assert webhook.secret not in owner_page.get("/settings").content.decode()


def test_a_private_webhook_is_refused_in_hosted_mode_with_a_form_message(owner_page, org, settings):
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = False
    for target, kind in (("127.0.0.1:8000", "loopback"), ("169.254.169.254", "link-local")):
        response = owner_page.post("/settings/alert-destinations", {"kind": "webhook", "target": f"http://{target}/hook"})
        assert response.status_code == 400
        errors = re.search(r'<ul class="errorlist" id="destination-errors">(.*?)</ul>', response.content.decode(), re.S)
        host = target.partition(":")[0]
        assert unescape(errors.group(1)) == (
            f"<li>target host {host} resolves to {host}, a {kind} address: alerts are only sent to public addresses</li>"
        )
    assert not AlertDestination.objects.filter(organization=org).exists()


def test_a_member_cannot_add_or_remove_a_destination(member_page, org):
    destination = alert_destination_create(organization=org, kind=AlertDestination.Kind.EMAIL, target="ops@acme.example")
    assert member_page.post("/settings/alert-destinations", {"kind": "email", "target": "x@acme.example"}).status_code == 403
    assert member_page.post(f"/settings/alert-destinations/{destination.id}/delete").status_code == 403
    assert AlertDestination.objects.filter(organization=org).count() == 1


def test_an_outsider_cannot_remove_anothers_destination(outsider_page, org):
    destination = alert_destination_create(organization=org, kind=AlertDestination.Kind.EMAIL, target="ops@acme.example")
    assert outsider_page.post(f"/settings/alert-destinations/{destination.id}/delete").status_code == 404
    assert AlertDestination.objects.filter(id=destination.id).exists()


def test_the_delivery_log_shows_each_alert_sent(owner_page, org, endpoint, settings, django_capture_on_commit_callbacks):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    alert_destination_create(organization=org, kind=AlertDestination.Kind.EMAIL, target="ops@acme.example")
    with django_capture_on_commit_callbacks(execute=True):
        budget_create(organization=org, name="Team monthly", amount_cents=Decimal("2"), period="month")
    with django_capture_on_commit_callbacks(execute=True):
        usage_log_record_many(records=[usage_record(endpoint=endpoint)])  # 1.1175 of 2 cents: 50%
    # Sent here and now (with REDIS_URL the task went to a broker no worker of this test reads).
    for delivery in AlertDelivery.objects.filter(destination__organization=org):
        alert_deliver.apply(args=[delivery.pk])

    html = owner_page.get("/settings").content.decode()
    table = re.search(r'<table id="alert-deliveries">(.*?)</table>', html, re.S).group(1)
    rows = [" ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)][1:]
    assert len(rows) == 1
    assert rows[0].startswith("Team monthly at 50% Email ops@acme.example sent 1")
