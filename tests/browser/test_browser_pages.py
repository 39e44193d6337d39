"""The product in a real browser: Debian's Chromium driven by Playwright against the live
stack (uvicorn + worker + fake upstream). Screenshots go to test-artifacts/."""

import csv
import io
import os
import re
import shutil
import uuid
from pathlib import Path

import anthropic
import httpx
import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PROVIDER_KEY = "sk-ant-api03-browser-test-provider-key-9876"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser_page(monkeypatch):
    """A Chromium page; skipped without /usr/bin/chromium unless CI requires services."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CODECOSTS_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    # Playwright's sync API keeps an event loop in this thread; the ORM calls made by
    # the test between browser steps are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
            permissions=["clipboard-read", "clipboard-write"],
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        # Chromium reports every CSP violation on the console ("Refused to apply inline
        # style because it violates the following Content Security Policy directive").
        page.csp_violations = []
        page.on(
            "console",
            lambda message: page.csp_violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None,
        )
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # The ORM calls made meanwhile may have opened their own connection (while
            # Playwright's loop runs, Django keys connections by async context): close it,
            # or PostgreSQL refuses to drop the test database at the end of the run.
            connections.close_all()


def assert_no_csp_violation(page) -> None:
    """The page in view, with its scripts and styles, ran under the CSP untouched."""
    page.wait_for_load_state("load")
    assert page.csp_violations == []
    response = page.request.get(page.url)
    assert "script-src 'self'" in response.headers["content-security-policy"]


def assert_fits(page) -> None:
    """The page in view is no wider than the window, and each table fits its card."""
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    overflowing = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')]"
        ".filter(wrap => wrap.scrollWidth > wrap.clientWidth).map(wrap => wrap.firstElementChild.id)"
    )
    assert overflowing == []


def test_sign_up_set_up_an_endpoint_call_it_and_follow_the_money(browser_page, live_stack):
    page = browser_page
    base = live_stack.url
    suffix = uuid.uuid4().hex[:8]
    username, slug = f"ada-{suffix}", f"browser-{suffix}"

    # Sign up: a new organization is walked through setup.
    page.goto(f"{base}/signup")
    assert_no_csp_violation(page)
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.com")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_organization_name", f"Engines {suffix}")
    page.click("button:has-text('Sign up')")
    page.wait_for_url(f"{base}/")
    assert page.locator("#setup").is_visible()
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "dashboard-empty.png", full_page=True)

    # Settings: create an endpoint; its base URL and setup snippets are ready to copy.
    page.click("nav >> text=Settings")
    page.wait_for_url(f"{base}/settings")
    page.fill("#endpoint-name", f"Browser {suffix}")
    page.fill("#endpoint-slug", slug)
    page.click("button:has-text('Create endpoint')")
    base_url = f"{base}/proxy/{slug}"
    assert page.locator(f"#url-{slug}").inner_text() == base_url
    assert (
        f"export ANTHROPIC_BASE_URL={base_url}"
        in page.locator(f"#snippet-{slug}-claude-code").inner_text()
    )
    page.click(f"button[data-copy-target='url-{slug}']")
    assert page.evaluate("navigator.clipboard.readText()") == base_url
    assert_no_csp_violation(page)
    # The same slug again: the API's message, as a form error.
    page.fill("#endpoint-name", "Again")
    page.fill("#endpoint-slug", slug)
    page.click("button:has-text('Create endpoint')")
    assert page.locator("#endpoint-errors").inner_text() == "slug already taken"

    # The new endpoint is locked: a developer's proxy key, made here, goes in
    # x-codecosts-key, as the snippets show; without it the SDK gets a 401.
    expect(page.locator(f"#lock-{slug} .badge")).to_have_text("locked")
    assert 'ANTHROPIC_CUSTOM_HEADERS="x-codecosts-key: $CODECOSTS_KEY"' in (
        page.locator(f"#snippet-{slug}-claude-code").inner_text()
    )
    page.fill("#api-key-name", "my laptop")
    page.click("button:has-text('Create API key')")  # scope: proxy, the form's default
    proxy_key = page.locator("#new-api-key-value").inner_text()
    assert "x-codecosts-key" in page.locator("#new-api-key").inner_text()
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(api_key=PROVIDER_KEY, base_url=base_url, max_retries=0).messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )

    # A proxied call with the official SDK, through the fake upstream, and a stream.
    client = anthropic.Anthropic(
        api_key=PROVIDER_KEY, base_url=base_url, max_retries=0, default_headers={"x-codecosts-key": proxy_key}
    )
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        system="You explain caching briefly.",
        messages=[{"role": "user", "content": "What does prompt caching do?"}],
    )
    message_log_id = raw.headers["x-codecosts-log-id"]
    with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        assert stream.get_final_text() == "Hello!"
        stream_log_id = stream.response.headers["x-codecosts-log-id"]
    live_stack.log(message_log_id)
    live_stack.log(stream_log_id)

    # The dashboard: $0.01383 + $0.0001 = $0.01393.
    page.click("nav >> text=Dashboard")
    page.wait_for_url(f"{base}/")
    # Cost, calls, error rate, cache savings.
    expect(page.locator("#totals .value")).to_have_text(["$0.0139", "2", "0.0%", "$0.00"])
    expect(page.locator("#cost-per-endpoint svg[role=img] rect")).to_have_count(1)
    assert slug in page.locator("#endpoints-table").inner_text()
    models = page.locator("#cost-by-model").inner_text()
    assert "claude-sonnet-4-6" in models and "claude-haiku-4-5-20251001" in models
    # The share bars and swatches: SVG attributes, no inline style (the CSP forbids it).
    bars = page.locator("#cost-by-model svg.bar rect")
    expect(bars).to_have_count(2)
    widths = [bar.bounding_box()["width"] for bar in bars.all()]
    track = page.locator("#cost-by-model svg.bar").first.bounding_box()["width"]
    # Each bar is its cost against the largest: $0.01383 fills it, $0.0001 is 0.7% of it.
    assert track > 60 and widths[0] == pytest.approx(track, abs=0.5)
    assert widths[1] == pytest.approx(track * 0.007, abs=0.5)
    swatch = page.locator("#endpoints-table svg.swatch").first.bounding_box()
    assert 10 <= swatch["width"] <= 14 and 10 <= swatch["height"] <= 14
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

    # The logs, and the stream's detail: reassembled and raw.
    page.click("nav >> text=Logs")
    page.wait_for_url(f"{base}/logs")
    rows = page.locator("#logs-table tbody tr")
    expect(rows).to_have_count(2)
    assert "claude-haiku-4-5-20251001" in rows.nth(0).inner_text()
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "logs.png", full_page=True)
    page.click(f"a[href='/logs/{stream_log_id}']")
    page.wait_for_url(f"{base}/logs/{stream_log_id}")
    expect(page.locator("#response").get_by_text("Hello!", exact=True)).to_be_visible()
    assert "Reassembled from the stream" in page.locator("#response").inner_text()
    page.click("#response summary:has-text('Raw SSE')")
    assert "event: message_start" in page.locator("#raw-sse").inner_text()
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "log-detail-stream.png", full_page=True)
    page.goto(f"{base}/logs/{message_log_id}")
    assert "You explain caching briefly." in page.locator("#request").inner_text()
    assert "$0.0138" in page.locator("#log-cost").inner_text()
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "log-detail.png", full_page=True)

    # CSV export of the list.
    page.click("nav >> text=Logs")
    page.wait_for_url(f"{base}/logs")
    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    assert download.suggested_filename.startswith("codecosts-logs-")
    shutil.copy(download.path(), ARTIFACTS / "logs.csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert [row["id"] for row in rows] == [stream_log_id, message_log_id]
    assert [row["cost_usd"] for row in rows] == ["0.0001", "0.01383"]
    assert {row["endpoint"] for row in rows} == {slug}

    # Attribution: a subagent's call with tags and a property. The proxy key names the
    # call's person ("my laptop"), so the x-codecosts-user it also sends is left out, told.
    agent_raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        messages=[{"role": "user", "content": "Explore the repository."}],
        extra_headers={
            "x-claude-code-agent-id": "agent-b1",
            "x-claude-code-agent-type": "Explore",
            "x-codecosts-tags": "browser,e2e",
            "x-codecosts-property-repo": "web",
            "x-codecosts-user": "someone-else",
        },
    )
    agent_log_id = agent_raw.headers["x-codecosts-log-id"]
    live_stack.log(agent_log_id)

    # People: every call came with the key, $0.01383 × 2 + $0.0001 = $0.02776.
    page.click("nav >> text=People")
    page.wait_for_url(f"{base}/people")
    people = page.locator("#people-table tbody tr")
    expect(people).to_have_count(1)
    cells = people.first.locator("td")
    expect(cells.nth(0)).to_have_text("my laptop")
    expect(cells.nth(1)).to_have_text("Codecosts key")
    expect(cells.nth(2)).to_have_text("3")
    expect(cells.nth(9)).to_have_text("$0.0278")
    expect(cells.nth(10)).to_have_text("100.0%")
    track = page.locator("#people-table svg.bar").first.bounding_box()["width"]
    bar = page.locator("#people-table svg.bar rect").first.bounding_box()["width"]
    assert bar == pytest.approx(track, abs=0.5)
    assert_fits(page)
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "people.png", full_page=True)
    page.click("#people-table a:has-text('my laptop')")
    page.wait_for_url(re.compile(r"/logs\?person=my\+laptop&since=.*&until="))
    expect(page.locator("#logs-table tbody tr")).to_have_count(3)
    expect(page.locator("#filter-chips .chip")).to_have_text(["Person: my laptop ×"])
    assert_fits(page)
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "logs-person.png", full_page=True)
    page.click("#filter-chips a")
    page.wait_for_url(re.compile(r"/logs\?since="))
    expect(page.locator("#filter-chips")).to_have_count(0)

    # Agents: the SDK's calls send no request class; the subagent's is known by its id.
    page.click("nav >> text=Agents")
    page.wait_for_url(f"{base}/agents")
    classes = page.locator("#request-class-table tbody tr td:first-child")
    expect(classes).to_have_text(["Subagents", "Not sent"])
    types = page.locator("#agent-type-table tbody tr td:first-child")
    expect(types).to_have_text(["Explore", "No agent type"])
    run = page.locator("#agent-runs-table tbody tr")
    expect(run).to_have_count(1)
    expect(run.locator("td")).to_have_text(
        ["agent-b1", "Explore", "main", "—", re.compile(r"\d{4}-"), "1", "$0.0138"]
    )
    assert_fits(page)
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "agents.png", full_page=True)
    run.locator("a").first.click()
    page.wait_for_url(re.compile(r"/logs\?agent=agent-b1&"))
    rows = page.locator("#logs-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.attribution .badge")).to_have_text(["Explore", "browser", "e2e"])
    rows.first.locator("td").first.locator("a").click()
    page.wait_for_url(f"{base}/logs/{agent_log_id}")
    expect(page.locator("#attribution-warnings li")).to_have_text(
        ["warning x-codecosts-user ignored: the call's Codecosts key names its person"]
    )
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "log-detail-attribution.png", full_page=True)

    # Properties and tags: the picker shows repo; web is the subagent's call.
    page.click("nav >> text=Properties")
    page.wait_for_url(f"{base}/properties")
    expect(page.locator("#property-name")).to_have_value("repo")
    expect(page.locator("#property-table tbody tr td:first-child")).to_have_text(["web", "Not set"])
    expect(page.locator("#property-table tbody tr td:nth-child(2)")).to_have_text(["1", "2"])
    expect(page.locator("#tag-table tbody tr td:first-child")).to_have_text(["browser", "e2e", "No tag"])
    assert_fits(page)
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "properties.png", full_page=True)
    page.click("#property-table a:has-text('Not set')")
    page.wait_for_url(re.compile(r"/logs\?property=repo%3A%28none%29&"))
    expect(page.locator("#logs-table tbody tr")).to_have_count(2)
    expect(page.locator("#filter-chips .chip")).to_have_text(["repo: not set ×"])

    # An API key: shown once, works, then revoked.
    page.click("nav >> text=Settings")
    page.fill("#api-key-name", "browser key")
    page.select_option("#api-key-scope", "full")
    page.click("button:has-text('Create API key')")
    raw_key = page.locator("#new-api-key-value").inner_text()
    assert re.fullmatch(r"cc_[A-Za-z0-9_-]{43}", raw_key)
    api = httpx.get(f"{base}/api/proxy-endpoints", headers={"Authorization": f"Bearer {raw_key}"})
    assert [item["slug"] for item in api.json()["items"]] == [slug]
    assert_no_csp_violation(page)
    page.screenshot(path=ARTIFACTS / "settings.png", full_page=True)
    page.goto(f"{base}/settings")
    assert raw_key not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator("#api-keys tr", has_text="browser key").locator("button:has-text('Revoke')").click()
    expect(page.locator("#api-keys tr", has_text="browser key").locator(".badge")).to_contain_text("revoked")
    api = httpx.get(f"{base}/api/proxy-endpoints", headers={"Authorization": f"Bearer {raw_key}"})
    assert api.status_code == 401

    # Log out.
    page.click("button:has-text('Log out')")
    page.wait_for_url(f"{base}/login")
    assert_no_csp_violation(page)
    pages = ("/sessions", "/people", "/agents", "/properties", "/members", "/admin/login/")
    for path in (*pages, "/no-such-page"):
        page.goto(f"{base}{path}")
        assert_no_csp_violation(page)
