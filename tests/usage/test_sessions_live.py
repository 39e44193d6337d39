"""Work sessions end to end: the official SDK → uvicorn → fake upstream, logged by the worker."""

import json
import uuid
from decimal import Decimal

import anthropic
import pytest

from usage.models import Session
from usage.services.sessions import session_end, session_start

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROVIDER_KEY = "sk-ant-api03-SECRET-provider-key-never-stored-4321"
# What the fake upstream's basic message costs on claude-sonnet-4-6 (2095 in, 503 out).
CALL_COST = Decimal("1.383")


def sdk(stack, endpoint) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=PROVIDER_KEY, base_url=stack.base_url(endpoint), max_retries=0
    )


def send(stack, endpoint, prompt: str = "Hello", **kwargs):
    """Make one call and return its usage log once the worker has written it."""
    raw = sdk(stack, endpoint).messages.with_raw_response.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        messages=[{"role": "user", "content": prompt}],
        **kwargs,
    )
    assert raw.parse().usage.input_tokens == 2095
    return stack.log(raw.headers["x-codecosts-log-id"])


def test_calls_join_a_manual_session_until_it_ends(live_stack, proxy_endpoint):
    session = session_start(
        organization=proxy_endpoint.organization, name="Build recommendation engine"
    )

    first = send(live_stack, proxy_endpoint)
    second = send(live_stack, proxy_endpoint)
    session_end(session=session)
    after = send(live_stack, proxy_endpoint)

    assert first.session_id == second.session_id == session.id
    assert after.session_id is None
    session.refresh_from_db()
    assert session.calls == 2
    assert (session.input_tokens, session.output_tokens) == (2 * 2095, 2 * 503)
    assert session.cost_cents == 2 * CALL_COST
    assert session.duration_ms == first.duration_ms + second.duration_ms


def test_an_endpoint_session_takes_its_calls_before_an_organization_wide_one(
    live_stack, proxy_endpoint
):
    organization = proxy_endpoint.organization
    session_start(organization=organization, name="Everywhere")
    own = session_start(organization=organization, name="This endpoint", endpoint=proxy_endpoint)

    assert send(live_stack, proxy_endpoint).session_id == own.id


def test_the_session_header_groups_calls_and_is_not_forwarded(live_stack, proxy_endpoint):
    headers = {"x-codecosts-session": "Feature X"}

    first = send(live_stack, proxy_endpoint, extra_headers=headers)
    forwarded = {
        name.lower(): value for name, value in live_stack.upstream.requests[-1].headers.items()
    }
    second = send(live_stack, proxy_endpoint, extra_headers=headers)
    other = send(live_stack, proxy_endpoint, extra_headers={"x-codecosts-session": "Feature Y"})

    assert not [name for name in forwarded if name.startswith("x-codecosts")]
    # Everything else goes through: the credentials (the SDK may send either header) and the rest.
    assert PROVIDER_KEY in (forwarded.get("x-api-key") or forwarded.get("authorization", ""))
    assert forwarded["anthropic-version"]
    assert first.session_id == second.session_id != other.session_id
    session = Session.objects.get(pk=first.session_id)
    assert (session.name, session.source, session.organization_id) == (
        "Feature X",
        "header",
        proxy_endpoint.organization_id,
    )
    assert (session.calls, session.cost_cents) == (2, 2 * CALL_COST)
    assert first.session_name == "Feature X"


def test_the_session_header_wins_over_a_running_manual_session(live_stack, proxy_endpoint):
    manual = session_start(organization=proxy_endpoint.organization, name="Manual")

    log = send(live_stack, proxy_endpoint, extra_headers={"x-codecosts-session": "Feature X"})

    assert log.session.name == "Feature X"
    manual.refresh_from_db()
    assert manual.calls == 0


def test_claude_codes_session_header_groups_calls(live_stack, proxy_endpoint):
    claude_session = str(uuid.uuid4())
    headers = {"X-Claude-Code-Session-Id": claude_session}

    first = send(
        live_stack, proxy_endpoint, prompt="Refactor the billing module", extra_headers=headers
    )
    second = send(live_stack, proxy_endpoint, prompt="Now add tests", extra_headers=headers)

    assert first.session_id == second.session_id
    assert first.claude_code_session_id == claude_session
    session = Session.objects.get(pk=first.session_id)
    assert (session.source, session.external_id, session.name) == (
        "claude_code",
        claude_session,
        "Refactor the billing module",
    )
    assert session.calls == 2


@pytest.mark.parametrize("form", ["json", "legacy"])
def test_claude_codes_metadata_user_id_groups_calls(live_stack, proxy_endpoint, form):
    claude_session = str(uuid.uuid4())
    if form == "json":
        # Claude Code 2.1.78+.
        user_id = json.dumps(
            {"device_id": "d" * 64, "account_uuid": str(uuid.uuid4()), "session_id": claude_session}
        )
    else:
        user_id = f"user_{'ab' * 32}_account_{uuid.uuid4()}_session_{claude_session}"
    metadata = {"user_id": user_id}

    first = send(live_stack, proxy_endpoint, prompt="Explain the cache", metadata=metadata)
    second = send(live_stack, proxy_endpoint, prompt="Thanks", metadata=metadata)
    unrelated = send(live_stack, proxy_endpoint, prompt="Something else")

    assert first.session_id == second.session_id
    assert unrelated.session_id is None
    session = Session.objects.get(pk=first.session_id)
    assert (session.source, session.external_id, session.name, session.calls) == (
        "claude_code",
        claude_session,
        "Explain the cache",
        2,
    )
