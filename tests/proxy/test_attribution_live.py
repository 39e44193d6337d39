"""Who and which agent made a call, through the real server (uvicorn, and the worker when
REDIS_URL is set): issue 13.

Claude Code's own requests, recorded from the real CLI (scripts/record_claude_code.py:
a main conversation that spawns two subagents, tests/fixtures/claude_code/), are
replayed through the proxy byte for byte with their headers; each log lands under its
person, agent and request class. Codecosts' x-codecosts-* headers never reach the
provider; Claude Code's x-claude-code-* headers do.
"""

import json
from pathlib import Path

import httpx
import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create
from tests.live import raw_request
from usage.models import UsageLog, UsageLogLabel, UsageRollup

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECORDING = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "claude_code" / "subagents.json").read_text()
)
# Set by the connection, not the client: the replay's own connection sets them again.
_CONNECTION_HEADERS = {"host", "content-length", "connection", "accept-encoding"}
PROVIDER_KEY = "sk-ant-api03-replayed-caller-key-0042"


def _messages_calls() -> list[dict]:
    return [r for r in RECORDING["requests"] if r["method"] == "POST" and r["path"].startswith("/v1/messages")]


def replay(stack, endpoint, request: dict, **extra_headers) -> httpx.Response:
    headers = {k: v for k, v in request["headers"].items() if k not in _CONNECTION_HEADERS}
    headers["x-api-key"] = PROVIDER_KEY
    headers.update(extra_headers)
    return httpx.post(
        stack.base_url(endpoint) + request["path"],
        content=request["body"].encode(),
        headers=headers,
        timeout=30,
    )


def upstream_headers(stack, since: int) -> list[dict]:
    return [{k.lower(): v for k, v in r.headers.items()} for r in stack.upstream.requests[since:]]


def test_the_recording_is_claude_codes_main_call_and_two_subagents():
    calls = _messages_calls()
    agent_ids = [c["headers"].get("x-claude-code-agent-id") for c in calls]
    assert len(calls) == 4
    assert agent_ids[0] is None and agent_ids[3] is None
    assert len({agent_ids[1], agent_ids[2]}) == 2 and None not in agent_ids[1:3]
    assert calls[0]["headers"]["user-agent"].startswith("claude-cli/")
    assert {c["headers"]["x-claude-code-session-id"] for c in calls} == {
        json.loads(json.loads(calls[0]["body"])["metadata"]["user_id"])["session_id"]
    }


def test_replayed_claude_code_traffic_lands_under_its_person_agents_and_request_class(
    live_stack, proxy_endpoint
):
    calls = _messages_calls()
    since = len(live_stack.upstream.requests)
    responses = [replay(live_stack, proxy_endpoint, call) for call in calls]
    assert [r.status_code for r in responses] == [200] * 4
    logs = [live_stack.log(r.headers["x-codecosts-log-id"]) for r in responses]

    main, first, second, last = logs
    agent_one = calls[1]["headers"]["x-claude-code-agent-id"]
    agent_two = calls[2]["headers"]["x-claude-code-agent-id"]
    assert [(log.person, log.person_source) for log in logs] == [("alice", "header")] * 4
    assert [(log.agent_id, log.request_class) for log in logs] == [
        ("", "main"), (agent_one, "subagent"), (agent_two, "subagent"), ("", "main"),
    ]
    assert all(log.tags == ["refactor", "backend"] for log in logs)
    assert all(log.properties == {"repo": "codecosts"} for log in logs)
    assert all(log.attribution_warnings == [] for log in logs)
    # One Claude Code session holds the main conversation and its subagents.
    assert main.session_id is not None
    assert {log.session_id for log in logs} == {main.session_id}

    # Nothing of Codecosts' reaches the provider; Claude Code's own headers do.
    received = upstream_headers(live_stack, since)
    assert len(received) == 4
    assert not [name for headers in received for name in headers if name.startswith("x-codecosts-")]
    assert [h.get("x-claude-code-agent-id") for h in received] == [None, agent_one, agent_two, None]
    assert all(h["x-claude-code-session-id"] == calls[0]["headers"]["x-claude-code-session-id"] for h in received)

    # The rollups the pages and summaries read: two subagent runs, the main conversation.
    rollups = {
        (row.dimension, row.key): row
        for row in UsageRollup.objects.filter(organization=proxy_endpoint.organization)
    }
    assert rollups[("person", "alice")].calls == 4
    assert rollups[("request_class", "subagent")].calls == 2
    assert rollups[("request_class", "main")].calls == 2
    assert (rollups[("agent", agent_one)].calls, rollups[("agent", agent_two)].calls) == (1, 1)
    assert rollups[("property:repo", "codecosts")].cost_cents == sum(log.cost_cents for log in logs)
    assert UsageLogLabel.objects.filter(log__in=logs, kind="tag").count() == 8


def test_hint_headers_give_the_request_class_and_agent_type(live_stack, proxy_endpoint):
    """With CLAUDE_CODE_GATEWAY_HINT_HEADERS=1 Claude Code says what each call is (the CLI
    recorded, 2.1.197, sends no hints yet; they are added here as its gateway docs give them)."""
    subagent = _messages_calls()[1]
    response = replay(
        live_stack,
        proxy_endpoint,
        subagent,
        **{
            "x-claude-code-request-class": "subagent",
            "x-claude-code-agent-type": "Explore",
            "x-claude-code-parent-agent-id": "a0000000000000001",
        },
    )
    log = live_stack.log(response.headers["x-codecosts-log-id"])
    assert (log.request_class, log.agent_type, log.parent_agent_id) == ("subagent", "Explore", "a0000000000000001")

    compaction = replay(live_stack, proxy_endpoint, _messages_calls()[0], **{"x-claude-code-request-class": "Compaction"})
    assert live_stack.log(compaction.headers["x-codecosts-log-id"]).request_class == "compaction"


def test_a_named_key_is_the_person_and_the_user_header_cannot_override_it(live_stack, proxy_endpoint):
    _, raw = api_key_create(
        organization=proxy_endpoint.organization, name="alice-laptop", scope=ApiKey.Scope.PROXY
    )
    response = replay(live_stack, proxy_endpoint, _messages_calls()[0], **{"x-codecosts-key": raw, "x-codecosts-user": "mallory"})
    log = live_stack.log(response.headers["x-codecosts-log-id"])
    assert (log.person, log.person_source) == ("alice-laptop", "key")
    assert log.attribution_warnings == ["x-codecosts-user ignored: the call's Codecosts key names its person"]


def test_without_a_key_or_header_claude_codes_device_is_the_person(live_stack, proxy_endpoint):
    call = _messages_calls()[0]
    headers = {k: v for k, v in call["headers"].items() if not k.startswith("x-codecosts-")}
    response = replay(live_stack, proxy_endpoint, {**call, "headers": headers})
    log = live_stack.log(response.headers["x-codecosts-log-id"])
    device = json.loads(json.loads(call["body"])["metadata"]["user_id"])["device_id"]
    assert (log.person, log.person_source) == (f"device:{device}", "body")
    assert (log.tags, log.properties) == ([], {})


def test_oversized_invalid_and_too_many_headers_are_bounded_and_never_forwarded(live_stack, proxy_endpoint):
    since = len(live_stack.upstream.requests)
    headers = [
        (b"x-api-key", PROVIDER_KEY.encode()),
        (b"anthropic-version", b"2023-06-01"),
        (b"content-type", b"application/json"),
        (b"x-codecosts-user", b"b" * 500),
        (b"x-codecosts-tags", b",".join(b"t%d" % n for n in range(30)) + b",bad\ttag"),
        (b"x-claude-code-agent-id", b"not an id!"),
        (b"x-claude-code-request-class", b"x" * 40),
        *((b"x-codecosts-property-p%03d" % n, b"v%d" % n) for n in range(100)),
        (b"x-codecosts-property-long", b"v" * 1000),
    ]
    # Written as bytes: client libraries refuse some of these; an attacker's client does not.
    status, response_headers, body = raw_request(
        live_stack.url,
        "POST",
        f"/proxy/{proxy_endpoint.slug}/v1/messages".encode(),
        headers,
        b'{"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []}',
    )
    assert status == 200, body
    log = live_stack.log(response_headers["x-codecosts-log-id"])
    assert (log.person, log.person_source) == ("b" * 100, "header")
    assert log.tags == [f"t{n}" for n in range(10)]
    assert log.agent_id == "" and log.request_class == ""
    assert list(log.properties) == [f"p{n:03d}" for n in range(20)]
    assert log.attribution_warnings == [
        "x-codecosts-user cut to 100 characters (was 500)",
        "x-claude-code-agent-id left out: not an id of at most 64 letters, digits and ._:%@-",
        "x-claude-code-request-class left out: not a name of at most 32 letters, digits, - and _",
        "tag 'bad?tag' left out: control characters",
        "x-codecosts-tags: 30 tags, the first 10 kept",
        "x-codecosts-property-*: 101 properties, the first 20 kept",
    ]
    received = upstream_headers(live_stack, since)
    assert len(received) == 1
    assert [name for name in received[0] if name.startswith("x-codecosts-")] == []
    assert received[0]["x-claude-code-agent-id"] == "not an id!"  # Claude Code's: forwarded as sent
    assert UsageLog.objects.filter(endpoint=proxy_endpoint).count() == 1


def test_a_utf8_name_is_read_as_sent_and_a_header_the_server_refuses_reaches_nothing(live_stack, proxy_endpoint):
    since = len(live_stack.upstream.requests)
    target = f"/proxy/{proxy_endpoint.slug}/v1/messages".encode()
    body = b'{"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []}'
    base = [(b"x-api-key", PROVIDER_KEY.encode()), (b"content-type", b"application/json")]
    status, headers, _ = raw_request(
        live_stack.url, "POST", target, [*base, (b"x-codecosts-user", "José Müller".encode())], body
    )
    assert status == 200
    assert live_stack.log(headers["x-codecosts-log-id"]).person == "José Müller"

    # DEL in a header value: the HTTP server itself refuses the request.
    status, _, _ = raw_request(live_stack.url, "POST", target, [*base, (b"x-codecosts-user", b"a\x7fb")], body)
    assert status == 400
    assert len(live_stack.upstream.requests) == since + 1
    assert UsageLog.objects.filter(endpoint=proxy_endpoint).count() == 1


def test_the_settings_pages_python_snippet_attributes_its_calls(live_stack, proxy_endpoint, monkeypatch):
    """The snippet as shown, run: its default headers name the person, tags and property."""
    from proxy.snippets import attribution_snippets

    code = next(s["code"] for s in attribution_snippets(live_stack.base_url(proxy_endpoint)) if s["key"] == "python")
    monkeypatch.setenv("USER", "dana")
    monkeypatch.setenv("ANTHROPIC_API_KEY", PROVIDER_KEY)
    namespace = {}
    exec(code, namespace)  # noqa: S102 - our own snippet, run as a user would paste it
    response = namespace["client"].messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}],
        extra_headers={"x-codecosts-property-ticket": "ENG-42"},
    )
    log = live_stack.log(response.headers["x-codecosts-log-id"])
    assert (log.person, log.tags) == ("dana", ["refactor", "backend"])
    assert log.properties == {"repo": "shop", "ticket": "ENG-42"}
