"""The log detail page: /logs/<id>."""

from pathlib import Path

import pytest
from django.test import Client

from tests.usage.test_page_logs import at, record_attributed, record_call

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

TOOL_REQUEST = {
    "model": "claude-opus-4-8",
    "max_tokens": 2048,
    "stream": True,
    "system": [{"type": "text", "text": "You are a weather assistant."}],
    "tools": [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        }
    ],
    "messages": [
        {"role": "user", "content": "What's the weather in San Francisco?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me look."}]},
    ],
}


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


def test_it_shows_a_non_streamed_call_with_cost_per_token_class(member_client, endpoint):
    response_body = (FIXTURES / "anthropic_nonstream_basic.json").read_bytes()
    log = record_call(endpoint, started_at=at(20), response=response_body)

    response = member_client.get(f"/logs/{log.id}")

    assert response.status_code == 200
    html = response.content.decode()
    # 2095 × $3/MTok = $0.006285; 503 × $15/MTok = $0.007545; total $0.01383.
    lines = {line.label: (line.quantity, str(line.cost)) for line in response.context["cost_lines"]}
    assert lines == {"Input": (2095, "$0.00629"), "Output": (503, "$0.00755")}
    assert response.context["cost"].exact == "$0.01383"
    assert "$0.0138" in html
    assert "You explain caching briefly." in html  # the system prompt
    assert "What does prompt caching do?" in html  # the user message
    assert "Prompt caching stores a processed prefix" in html  # the answer
    assert "412 ms" in html and "1,830 ms" in html  # time to first byte, duration
    assert "…AbCd" in html  # only the provider key's hint


def test_a_stream_is_shown_reassembled_and_as_raw_sse(member_client, endpoint):
    sse = (FIXTURES / "anthropic_stream_tool_use.sse").read_bytes()
    log = record_call(
        endpoint,
        started_at=at(20),
        model="claude-opus-4-8",
        request=TOOL_REQUEST,
        response=sse,
        content_type="text/event-stream",
        streamed=True,
    )

    response = member_client.get(f"/logs/{log.id}")

    html = response.content.decode()
    answer = response.context["answer"]
    assert answer.role == "assistant"
    assert [block.kind for block in answer.blocks] == ["text", "tool_use"]
    assert answer.blocks[0].text == "Okay, let's check the weather for San Francisco, CA:"
    assert answer.blocks[1].title == "tool_use: get_weather"
    assert '"location": "San Francisco, CA"' in answer.blocks[1].text
    assert "event: content_block_delta" in html  # the raw SSE
    assert "Reassembled from the stream" in html
    # The request, readable: system, roles, tools.
    conversation = response.context["conversation"]
    assert [m.role for m in conversation.messages] == ["user", "assistant"]
    assert conversation.system[0].text == "You are a weather assistant."
    assert conversation.tools[0]["name"] == "get_weather"
    assert "Get the current weather in a given location" in html


def test_an_openai_chat_stream_is_reassembled(member_client, endpoint):
    sse = (FIXTURES / "openai_chat_stream_include_usage.sse").read_bytes()
    log = record_call(
        endpoint,
        started_at=at(20),
        model="gpt-4o-mini",
        provider="openai",
        path="/v1/chat/completions",
        request={
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Say hello"},
            ],
        },
        response=sse,
        content_type="text/event-stream",
        streamed=True,
    )

    response = member_client.get(f"/logs/{log.id}")

    assert response.status_code == 200
    assert response.context["conversation"].system[0].text == "Be terse."
    assert [m.role for m in response.context["conversation"].messages] == ["user"]
    assert response.context["answer"].role == "assistant"
    assert response.context["answer"].blocks[0].text


def test_an_unpriced_model_says_so_instead_of_zero(member_client, endpoint):
    log = record_call(endpoint, started_at=at(20), model="claude-unknown-9")

    response = member_client.get(f"/logs/{log.id}")

    assert log.unpriced is True
    html = response.content.decode()
    assert "unpriced" in html
    assert "model not in the price table" in html


def test_another_organizations_log_is_404(member_client, other_org):
    from proxy.services import proxy_endpoint_create

    foreign_endpoint = proxy_endpoint_create(organization=other_org, name="G", slug="globex-x")
    foreign = record_call(foreign_endpoint, started_at=at(20))

    response = member_client.get(f"/logs/{foreign.id}")

    assert response.status_code == 404
    assert "Prompt caching" not in response.content.decode()


def test_an_unknown_log_is_404(member_client, endpoint):
    response = member_client.get("/logs/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404


def test_the_detail_requires_login(endpoint):
    log = record_call(endpoint, started_at=at(20))

    response = Client().get(f"/logs/{log.id}")

    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


def test_it_shows_every_attribution_field_and_its_warnings(member_client, endpoint):
    log = record_attributed(
        endpoint,
        started_at=at(20),
        user="a" * 120,
        agent="a1f3",
        parent="a0b2",
        request_class="subagent",
        agent_type="Explore",
        tags="db,perf",
        property_repo="web",
        **{"property_bad.name": "x"},
    )

    response = member_client.get(f"/logs/{log.id}")

    html = response.content.decode()
    section = html.split('id="attribution"', 1)[1].split("</section>", 1)[0]
    person = "a" * 100
    assert (
        f'<a href="/logs?person={person}">{person}</a> <span class="badge">x-codecosts-user</span>'
        in section
    )
    assert '<a href="/logs?request_class=subagent">subagent</a>' in section
    assert '<a href="/logs?agent_type=Explore">Explore</a>' in section
    assert '<a href="/logs?agent=a1f3"><code>a1f3</code></a>' in section
    assert "<code>a0b2</code>" in section
    assert '<a class="badge tag" href="/logs?tag=db">db</a>' in section
    assert '<code>repo</code>: <a href="/logs?property=repo:web">web</a>' in section
    assert log.attribution_warnings == [
        "x-codecosts-user cut to 100 characters (was 120)",
        "x-codecosts-property-bad.name left out: the name must be at most 64 letters, digits, - and _",
    ]
    for warning in log.attribution_warnings:
        assert f'<span class="badge warn">warning</span> {warning}' in section


def test_a_call_without_attribution_says_so(member_client, endpoint):
    log = record_attributed(endpoint, started_at=at(20), user_agent="python-httpx/0.28")

    response = member_client.get(f"/logs/{log.id}")

    section = response.content.decode().split('id="attribution"', 1)[1].split("</section>", 1)[0]
    assert "not attributed" in section and "not sent" in section
    assert "attribution-warnings" not in section


def test_bodies_deleted_by_retention_say_so(member_client, endpoint):
    from datetime import UTC, datetime, timedelta

    from usage.services.retention import retention_run

    now = datetime.now(UTC)
    old = record_call(endpoint, started_at=now - timedelta(days=31), streamed=True, content_type="text/event-stream")
    recent = record_call(endpoint, started_at=now - timedelta(days=1))
    endpoint.organization.body_retention_days = 30
    assert retention_run(organization=endpoint.organization, now=now).bodies == 1

    html = member_client.get(f"/logs/{old.id}").content.decode()
    assert html.count("Bodies deleted after 30 days (retention)") == 2  # the request and the stream
    assert "(no body)" not in html
    assert "2,095" in html  # the tokens, cost and timing stay
    # A kept log shows its bodies; one whose body never was stored says so as before.
    assert "Bodies deleted" not in member_client.get(f"/logs/{recent.id}").content.decode()
    recent.body.delete()
    html = member_client.get(f"/logs/{recent.id}").content.decode()
    assert "(no body)" in html and "Bodies deleted" not in html
