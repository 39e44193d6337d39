"""Hard limits on the proxy path, driven in process (local mode: the usage writer's states
reach the gate directly): usage written through the real writer spends a budget; the
next billed call it covers is refused in the provider's shape before anything is
forwarded; count_tokens, other scopes and other organizations go on; the block lifts at
the period's reset (a controllable clock)."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create
from budgets import state
from budgets.models import Budget
from budgets.periods import period_bounds
from budgets.services import budget_create, budget_delete, budget_refresh
from proxy import budget_gate
from proxy.models import ProxyEndpoint
from tests.asgi import proxy_exchange
from tests.factories import usage_record
from usage import pipeline
from usage.services.logs import usage_log_record_many

MESSAGES = json.dumps(
    {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
).encode()
# tests.factories' call: Sonnet 4.6, 1200 in, 300 out, 500 cache writes, 4000 cache reads.
CALL_CENTS = Decimal("1.1175")


@pytest.fixture(autouse=True)
def local_states(settings, monkeypatch, tmp_path):
    """Local mode's budget states: published in process, straight to the gate."""
    settings.REDIS_URL = ""
    settings.USAGE_SPOOL_DIR = tmp_path / "spool"
    monkeypatch.setattr(state, "_known", {})
    monkeypatch.setattr(state, "_local_pending", {})
    handed_over = []
    monkeypatch.setattr(pipeline, "record", handed_over.append)
    yield handed_over
    pipeline.shutdown()


@pytest.fixture
def upstream_at(settings, fake_upstream):
    settings.ANTHROPIC_UPSTREAM_URL = fake_upstream.url
    settings.OPENAI_UPSTREAM_URL = fake_upstream.url
    return fake_upstream


@pytest.fixture
def app_endpoint(transactional_db, org, upstream_at) -> ProxyEndpoint:
    return ProxyEndpoint.objects.create(organization=org, name="App", slug=f"app-{uuid.uuid4().hex[:10]}", require_key=False)


def call(slug: str, path: str = "/v1/messages", body: bytes = MESSAGES, **headers):
    """(status, headers, body) a client gets from the proxy view."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": f"/proxy/{slug}{path}", "raw_path": f"/proxy/{slug}{path}".encode(),
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json")]
        + [(name.encode(), value.encode()) for name, value in headers.items()],
    }

    return proxy_exchange(scope, (body,))


def spend(endpoint, calls: int = 1, **attribution):
    """Calls through the real usage writer (which then refreshes the budgets they hit)."""
    usage_log_record_many(
        records=[usage_record(endpoint=endpoint, attribution=attribution) for _ in range(calls)]
    )


def budget(org, **fields) -> Budget:
    values = dict(name="Team monthly", amount_cents=Decimal("2"), period="month", hard_limit=True)
    return budget_create(organization=org, **{**values, **fields})


def test_a_spent_budget_refuses_the_next_call_in_the_providers_shape(org, app_endpoint, upstream_at):
    team = budget(org)
    spend(app_endpoint)
    assert call(app_endpoint.slug)[0] == 200  # 1.1175 of 2 cents: not yet
    spend(app_endpoint)  # 2.235 cents: over

    seen = len(upstream_at.requests)
    status, headers, body = call(app_endpoint.slug)

    assert status == 429
    assert len(upstream_at.requests) == seen  # refused before anything is forwarded
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
    _, end = period_bounds("month", "UTC", datetime.now(UTC))
    assert error["error"]["message"] == (
        "Codecosts budget 'Team monthly' has reached its hard limit: $0.02 spent of $0.02 this "
        f"month. Calls are refused until it resets at {end:%Y-%m-%d %H:%M} UTC."
    )
    assert headers["x-should-retry"] == "false"
    assert int(headers["retry-after"]) > 60
    assert abs(int(headers["retry-after"]) - (end - datetime.now(UTC)).total_seconds()) < 5
    assert state.read(str(team.id)).spend_cents == "2.235"  # 2 × 1.1175, exact


def test_count_tokens_is_never_refused_and_openai_calls_are_refused_in_openais_shape(org, app_endpoint):
    budget(org, amount_cents=Decimal("1"))
    spend(app_endpoint)

    count = json.dumps({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]}).encode()
    assert call(app_endpoint.slug, "/v1/messages/count_tokens", count)[0] == 200
    chat = json.dumps({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "x"}]}).encode()
    status, _, body = call(app_endpoint.slug, "/openai/v1/chat/completions", chat)
    assert status == 429
    error = json.loads(body)["error"]
    assert (error["type"], error["code"], error["param"]) == ("rate_limit_error", "budget_exceeded", None)
    assert error["message"].startswith("Codecosts budget 'Team monthly' has reached its hard limit")


def test_an_endpoint_budget_blocks_only_its_endpoint(org, app_endpoint):
    other = ProxyEndpoint.objects.create(organization=org, name="Other", slug=f"other-{uuid.uuid4().hex[:10]}", require_key=False)
    budget(org, scope="endpoint", endpoint=app_endpoint, amount_cents=Decimal("1"))
    spend(app_endpoint)
    spend(other, calls=3)  # the other endpoint's spend is not this budget's

    assert call(app_endpoint.slug)[0] == 429
    assert call(other.slug)[0] == 200


def test_a_person_budget_blocks_that_person_by_header_or_by_key(org, app_endpoint):
    budget(org, scope="person", person="alice", amount_cents=Decimal("1"))
    budget(org, name="Carol's", scope="person", person="carol-ci", amount_cents=Decimal("1"))
    spend(app_endpoint, **{"x-codecosts-user": "alice"})
    key, raw = api_key_create(organization=org, name="carol-ci", scope=ApiKey.Scope.PROXY)
    usage_log_record_many(records=[usage_record(endpoint=app_endpoint, api_key_id=str(key.id))])

    assert call(app_endpoint.slug, **{"x-codecosts-user": "alice"})[0] == 429
    assert call(app_endpoint.slug, **{"x-codecosts-user": " alice "})[0] == 429  # as the log reads it
    assert call(app_endpoint.slug, **{"x-codecosts-user": "bob"})[0] == 200
    assert call(app_endpoint.slug)[0] == 200
    # The key names its person: a header cannot make carol someone else.
    status, _, body = call(app_endpoint.slug, **{"x-codecosts-key": raw, "x-codecosts-user": "bob"})
    assert status == 429 and "Carol's" in json.loads(body)["error"]["message"]


def test_no_block_below_the_limit_without_a_hard_limit_or_for_another_organization(org, other_org, app_endpoint):
    budget(org, amount_cents=Decimal("1"), hard_limit=False)
    budget(org, name="High", amount_cents=Decimal("1"), hard_limit_cents=Decimal("3"))
    spend(app_endpoint, calls=2)  # 2.235: over both amounts, under the separate limit of 3
    assert call(app_endpoint.slug)[0] == 200

    globex = ProxyEndpoint.objects.create(organization=other_org, name="G", slug=f"g-{uuid.uuid4().hex[:10]}", require_key=False)
    budget(other_org, amount_cents=Decimal("1"))
    spend(globex)
    assert call(globex.slug)[0] == 429
    assert call(app_endpoint.slug)[0] == 200


def test_the_block_lifts_at_the_reset_and_a_deleted_budget_blocks_nothing(org, app_endpoint, monkeypatch):
    day = budget(org, period="day", amount_cents=Decimal("1"))
    spend(app_endpoint)
    held = state.read(str(day.id))
    assert held.blocked and call(app_endpoint.slug)[0] == 429

    monkeypatch.setattr(budget_gate, "clock", lambda: held.reset_at - 1)
    assert call(app_endpoint.slug)[0] == 429
    monkeypatch.setattr(budget_gate, "clock", lambda: held.reset_at)
    assert call(app_endpoint.slug)[0] == 200  # the new day: lifted, whatever the writer does

    # The writer's next state, in the new period, starts from zero.
    fresh = budget_refresh(day, now=datetime.fromtimestamp(held.reset_at, UTC) + timedelta(minutes=1))
    assert (fresh.spend_cents, fresh.blocked) == ("0", False)

    monthly = budget(org, name="Monthly", amount_cents=Decimal("1"))
    budget_refresh(monthly)
    assert call(app_endpoint.slug)[0] == 429
    budget_delete(budget=monthly)
    assert call(app_endpoint.slug)[0] == 200


def test_calls_count_as_they_end_and_their_logs_replace_them_without_counting_twice(org, app_endpoint):
    """budgets.provisional, as the web process's shipper runs it before the logs exist."""
    from budgets import provisional

    team = budget(org)  # 2 cents, hard limit
    records = [usage_record(endpoint=app_endpoint) for _ in range(2)]
    provisional.account(records[:1])
    assert (state.read(str(team.id)).spend_cents, state.read(str(team.id)).blocked) == ("0", False)  # pending: 1.1175
    provisional.account(records[1:])
    held = state.read(str(team.id))
    assert (held.counted_cents, held.spend_cents, held.blocked) == ("0", "2.235", True)
    assert call(app_endpoint.slug)[0] == 429  # before any log is written

    usage_log_record_many(records=records)  # the writer: the same two calls, now counted
    held = state.read(str(team.id))
    assert (held.counted_cents, held.spend_cents, held.blocked) == ("2.235", "2.235", True)
    # Another organization's or endpoint's calls are not this budget's.
    provisional.account([usage_record()])
    assert state.read(str(team.id)).spend_cents == "2.235"


def test_states_lost_with_redis_or_a_restart_are_rebuilt_from_the_logs(org, app_endpoint, monkeypatch):
    from budgets.services import budgets_refresh_all
    from budgets.tasks import budgets_refresh_all as beat_task

    team = budget(org, amount_cents=Decimal("1"))
    budget(org, name="Soft", amount_cents=Decimal("1"), hard_limit=False)
    spend(app_endpoint)
    assert call(app_endpoint.slug)[0] == 429
    monkeypatch.setattr(state, "_known", {})  # what a restart (or a flushed Redis) leaves
    assert call(app_endpoint.slug)[0] == 200

    assert budgets_refresh_all() == 1  # the hard-limited one; its spend read from the logs
    assert state.read(str(team.id)).spend_cents == "1.1175"
    assert call(app_endpoint.slug)[0] == 429
    monkeypatch.setattr(state, "_known", {})
    assert beat_task.apply().get() == 1  # as Celery beat runs it every minute
    assert call(app_endpoint.slug)[0] == 429
