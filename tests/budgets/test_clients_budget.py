"""What real clients do against a spent budget (issue 14): the Claude Code CLI (npm,
tests/clients) exits at once showing the message, and both SDKs raise their typed
rate-limit error without retrying. Nothing reaches the provider.

Why a 429 and not a 402: Claude Code 2.1.197 stops after one request on either (seen
with scripts against a scripted upstream: 429 with retry-after 3600 and 402 each exit
1 in about a second, message shown); the Anthropic SDK raises RateLimitError or
PaymentRequiredError, the OpenAI SDK RateLimitError or a bare APIStatusError for a 402;
both retry a 429 unless told not to, which x-should-retry: false does. A 429 is thus
typed in every client, and its retry-after says when the budget resets.
"""

import os
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import httpx2
import openai
import pytest

from budgets.models import Budget
from budgets.services import budget_create
from proxy.models import ProxyEndpoint
from tests.live import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLAUDE = Path(__file__).resolve().parents[1] / "clients" / "node_modules" / ".bin" / "claude"
PROVIDER_KEY = "sk-ant-api03-budget-client-caller-0007"


@pytest.fixture
def spent(live_stack, settings, transactional_db, org):
    """An endpoint whose organization's budget (1 cent, hard limit) one call has spent."""
    if live_stack.server.env["REDIS_URL"]:
        settings.REDIS_URL = live_stack.server.env["REDIS_URL"]
    endpoint = ProxyEndpoint.objects.create(
        organization=org, name="Spent", slug=f"s-{uuid.uuid4().hex[:10]}", require_key=False
    )
    budget_create(
        organization=org, name="Team daily", scope=Budget.Scope.ORGANIZATION,
        amount_cents=Decimal("1"), period="day", hard_limit=True,
    )
    url = live_stack.base_url(endpoint) + "/v1/messages"
    body = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}

    def refused():
        return httpx.post(url, json=body, headers={"x-api-key": PROVIDER_KEY}, timeout=10).status_code == 429

    wait_until(refused, timeout=20, interval=0.2, message=lambda: "the budget to block" + live_stack.process_logs())
    return endpoint


def counted_client(module=httpx):
    """An HTTP client of the SDK's own kind that counts the requests it sends."""
    sent = []
    return sent, module.Client(event_hooks={"request": [sent.append]})


def test_claude_code_stops_at_once_and_shows_why(live_stack, spent, tmp_path):
    assert CLAUDE.exists(), "make test installs the Claude Code CLI (tests/clients)"
    seen = len(live_stack.upstream.requests)
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANTHROPIC_BASE_URL": live_stack.base_url(spent),
        "ANTHROPIC_API_KEY": PROVIDER_KEY, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(CLAUDE), "-p", "Say hello."], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - started
    print(f"\nClaude Code exited {done.returncode} after {elapsed:.1f} s: {done.stdout.strip()}")
    assert done.returncode == 1
    assert "Codecosts budget 'Team daily' has reached its hard limit" in done.stdout + done.stderr
    assert elapsed < 30  # no retry loop: a retry-after over 60 s stops it at once
    assert len(live_stack.upstream.requests) == seen  # it reached nothing upstream


def test_the_anthropic_sdk_raises_rate_limit_error_after_one_request(live_stack, spent):
    sent, http_client = counted_client(httpx2)  # this SDK's fork of httpx
    client = anthropic.Anthropic(api_key=PROVIDER_KEY, base_url=live_stack.base_url(spent), http_client=http_client)
    seen = len(live_stack.upstream.requests)
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert len(sent) == 1  # max_retries=2 by default: x-should-retry: false keeps it to one
    assert raised.value.body["error"]["type"] == "rate_limit_error"
    assert "has reached its hard limit" in raised.value.message
    assert int(raised.value.response.headers["retry-after"]) > 60
    assert len(live_stack.upstream.requests) == seen
    # count_tokens is never refused.
    assert client.messages.count_tokens(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "x"}]).input_tokens > 0


def test_the_openai_sdk_raises_rate_limit_error_after_one_request(live_stack, spent):
    sent, http_client = counted_client()
    client = openai.OpenAI(api_key="sk-proj-caller", base_url=live_stack.base_url(spent) + "/openai/v1", http_client=http_client)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "x"}])
    assert len(sent) == 1
    assert raised.value.code == "budget_exceeded"
    assert "Codecosts budget 'Team daily'" in raised.value.message
