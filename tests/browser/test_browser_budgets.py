"""Budgets in a real browser (Debian's Chromium, Playwright) against the live stack: an
owner sets the time zone and budgets on Settings, sees their spend bars, the dashboard's
burn-rate card, and a hard limit reached refuses the next call through the proxy."""

import uuid
from datetime import UTC, datetime

import anthropic
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from accounts.models import Membership
from accounts.services import membership_create, organization_create
from proxy.services import proxy_endpoint_create
from tests.browser import test_browser_pages as pages
from tests.browser.test_browser_pages import (
    ARTIFACTS,
    PASSWORD,
    PROVIDER_KEY,
    assert_no_csp_violation,
)
from tests.factories import usage_record
from usage.services.logs import usage_log_record_many

browser_page = pages.browser_page  # the same Chromium page fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]


def test_an_owner_sets_budgets_and_a_reached_hard_limit_refuses_the_next_call(browser_page, live_stack):
    page, base = browser_page, live_stack.url
    suffix = uuid.uuid4().hex[:8]
    organization = organization_create(name=f"Budgets {suffix}")
    owner = get_user_model().objects.create_user(username=f"bea-{suffix}", password=PASSWORD)
    membership_create(organization=organization, user=owner, role=Membership.Role.OWNER)
    endpoint = proxy_endpoint_create(organization=organization, name="App", slug=f"budgets-{suffix}", require_key=False)
    # Two calls already made today: 2 × 1.1175 cents (tests.factories' Sonnet call).
    usage_log_record_many(
        records=[usage_record(endpoint=endpoint, started_at=datetime.now(UTC).timestamp()) for _ in range(2)]
    )

    page.goto(f"{base}/login")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")
    page.click("nav >> text=Settings")
    page.wait_for_url(f"{base}/settings")
    expect(page.locator("#budgets")).to_contain_text("No budget yet.")

    # The time zone: a wrong name is refused in the API's words, a right one is kept.
    page.fill("#time-zone", "Mars/Olympus")
    page.click("button:has-text('Save time zone')")
    expect(page.locator("#time-zone-errors")).to_have_text(
        "time_zone must be an IANA time zone name, such as UTC, America/New_York or Europe/Paris "
        "(not 'Mars/Olympus')"
    )
    page.fill("#time-zone", "America/New_York")
    page.click("button:has-text('Save time zone')")
    expect(page.locator("#organization-time-zone")).to_have_text("America/New_York")

    # A budget: bad input first, then one whose hard limit the spend already passes.
    page.fill("#budget-name", "Team daily")
    page.fill("#budget-amount", "ten")
    page.click("button:has-text('Create budget')")
    expect(page.locator("#budget-errors")).to_have_text(
        "amount_usd must be a number of dollars more than 0, such as 100 or 12.50"
    )
    expect(page.locator("#budget-name")).to_have_value("Team daily")
    page.fill("#budget-amount", "0.02")
    page.select_option("#budget-period", "day")
    page.check("#budget-hard-limit")
    page.click("button:has-text('Create budget')")
    team = page.locator("#budgets-table tbody tr", has_text="Team daily")
    expect(team).to_contain_text("$0.0224")  # 2.235 cents
    expect(team).to_contain_text("111.8%")
    expect(team.locator(".badge.error")).to_have_text("blocked")
    page.fill("#budget-name", "Monthly")
    page.fill("#budget-amount", "1")
    page.click("button:has-text('Create budget')")
    monthly = page.locator("#budgets-table tbody tr", has_text="Monthly")
    expect(monthly).to_contain_text("2.2%")

    # The bars: a full one for the spent budget, 2.2% of the track for the other (SVG).
    track = team.locator("svg.bar").bounding_box()["width"]
    assert track > 60
    assert team.locator("svg.bar rect").bounding_box()["width"] == pytest.approx(track, abs=0.5)
    assert monthly.locator("svg.bar rect").bounding_box()["width"] == pytest.approx(track * 0.022, abs=0.5)
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "settings-budgets.png", full_page=True)

    # The hard limit: the next call through the proxy is refused in Anthropic's shape.
    client = anthropic.Anthropic(api_key=PROVIDER_KEY, base_url=f"{base}/proxy/{endpoint.slug}", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as refused:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
    assert "Codecosts budget 'Team daily' has reached its hard limit" in str(refused.value)
    assert refused.value.body["error"]["message"].endswith(" America/New_York.")

    # The dashboard's burn rate: both budgets, the spent one warned of.
    page.click("nav >> text=Dashboard")
    page.wait_for_url(f"{base}/")
    cards = page.locator("#budget-cards tbody tr")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("Team daily today")
    expect(cards.nth(0).locator(".projected .badge.warn")).to_have_text("on course to exceed")
    expect(cards.nth(1).locator(".percent")).to_have_text("2.2%")
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "dashboard-budgets.png", full_page=True)

    # Delete, confirmed in the dialog: the block lifts.
    page.click("nav >> text=Settings")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        team.locator("button:has-text('Delete')").click()
    expect(page.locator(".messages")).to_contain_text("Budget “Team daily” deleted")
    expect(page.locator("#budgets-table tbody tr")).to_have_count(1)
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "Hi"}],
        extra_headers={"x-fake-scenario": "fixture=anthropic_nonstream_basic.json"},
    )
    assert message.usage.input_tokens > 0
    assert_no_csp_violation(page)
