"""Nothing gets around the meter by spelling a path or a header differently (issue 8).

Each spelling is sent over a raw socket, as an attacker's client would (HTTP libraries
normalise dot segments before sending), to a real uvicorn in front of the fake upstream.
Every one is either refused in the provider's error shape with nothing forwarded, or
forwarded as its canonical path and metered on that path.
"""

import json

import pytest

from proxy.paths import PathRefused, canonical_path, query_is_clean
from tests.live import fresh_slug, raw_request, wait_until
from usage.models import UsageLog

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MESSAGE = json.dumps(
    {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}],
    }
).encode()
CHAT = json.dumps({"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]}).encode()
HEADERS = [(b"x-api-key", b"sk-ant-attacker-0001"), (b"content-type", b"application/json")]

# (path after /proxy/<slug>, body) refused with 400 before anything is forwarded.
REFUSED = [
    ("/v1/./messages", MESSAGE),
    ("/v1/x/../messages", MESSAGE),
    ("/v1/messages/.", MESSAGE),
    ("/v1/messages%23x", MESSAGE),
    ("/v1/%2e%2e/anything", MESSAGE),
    ("/v1/%2E%2E/%2e%2e/admin/", MESSAGE),
    ("/v1/%2e/messages", MESSAGE),
    ("/v1/.%2e/v1/messages", MESSAGE),
    ("/v1/%252e%252e/x", MESSAGE),  # decoded once: still a "%", refused, never decoded twice
    ("/v1/messages%2fcount_tokens", MESSAGE),
    ("/v1/messages%2Fcount_tokens", MESSAGE),
    ("/v1/messages%5c..%5c..%5cadmin", MESSAGE),
    ("/v1/messages\\..\\admin", MESSAGE),
    ("/v1//messages", MESSAGE),
    ("/v1/messages%00", MESSAGE),
    ("/v1/messages%0d%0aX-Injected:%201", MESSAGE),
    ("/v1/messages%09", MESSAGE),
    ("/v1/messages%20", MESSAGE),
    ("/v1/m%C3%A9ssages", MESSAGE),
    ("/v1/messages;jsessionid=1", MESSAGE),
    ("/openai/v1/./chat/completions", CHAT),
    ("/openai/v1/x/../chat/completions", CHAT),
    ("/openai/v1/chat/completions%23", CHAT),
    ("/openai/v1/%2e%2e/%2e%2e/admin", CHAT),
]

# (path after /proxy/<slug>, body, what reaches the provider, what is metered).
FORWARDED = [
    ("/v1/messages", MESSAGE, "/v1/messages", "/v1/messages"),
    ("/v1/messages/", MESSAGE, "/v1/messages", "/v1/messages"),
    ("/v1/mess%61ges", MESSAGE, "/v1/messages", "/v1/messages"),
    ("/v1/%6Dessages", MESSAGE, "/v1/messages", "/v1/messages"),
    ("/v1/v1/messages", MESSAGE, "/v1/messages", "/v1/messages"),
    # A raw "#" ends the request target: the server never sees the fragment, so this is
    # the plain route, forwarded and metered as such. Encoded (%23) it is refused above.
    ("/v1/messages#x/../../admin", MESSAGE, "/v1/messages", "/v1/messages"),
    ("/openai/v1/chat/completions", CHAT, "/v1/chat/completions", "/v1/chat/completions"),
    ("/openai/v1/chat/completions/", CHAT, "/v1/chat/completions", "/v1/chat/completions"),
    ("/openai/v1/chat/%63ompletions", CHAT, "/v1/chat/completions", "/v1/chat/completions"),
]


def post(stack, endpoint, path: str, body: bytes, headers=HEADERS):
    target = f"/proxy/{endpoint.slug}{path}".encode("latin-1")
    return raw_request(stack.url, "POST", target, list(headers), body)


@pytest.mark.parametrize(("path", "body"), REFUSED)
def test_a_spelling_that_is_not_canonical_is_refused_in_the_providers_shape(
    live_stack, proxy_endpoint, path, body
):
    seen = len(live_stack.upstream.requests)
    status, _, answer = post(live_stack, proxy_endpoint, path, body)
    error = json.loads(answer)
    assert status == 400
    if path.startswith("/openai/"):
        assert error["error"]["type"] == "invalid_request_error"
        assert error["error"]["message"].startswith("Invalid request path")
    else:
        assert error["type"] == "error"
        assert error["error"]["type"] == "invalid_request_error"
        assert error["error"]["message"].startswith("Invalid request path")
    assert len(live_stack.upstream.requests) == seen  # nothing reached the provider


@pytest.mark.parametrize(("path", "body", "upstream_path", "logged_path"), FORWARDED)
def test_a_canonical_spelling_is_forwarded_as_exactly_that_path_and_metered(
    live_stack, proxy_endpoint, path, body, upstream_path, logged_path
):
    seen = len(live_stack.upstream.requests)
    status, headers, _ = post(live_stack, proxy_endpoint, path, body)
    assert status == 200
    received = live_stack.upstream.requests[seen:]
    assert [(r.path, r.raw_path) for r in received] == [(upstream_path, upstream_path)]
    log = live_stack.log(headers["x-codecosts-log-id"])
    assert log.path == logged_path
    assert log.input_tokens > 0 and log.cost_cents > 0


def test_the_rate_limit_counts_every_spelling_of_a_route_as_one(live_stack, transactional_db):
    from accounts.models import Organization
    from proxy.models import ProxyEndpoint

    organization = Organization.objects.create(name="Limited spellings")
    endpoint = ProxyEndpoint.objects.create(
        organization=organization,
        name="L",
        slug=fresh_slug("spellings"),
        rate_limit_per_minute=2,
        require_key=False,
    )
    statuses = [
        post(live_stack, endpoint, path, MESSAGE)[0]
        for path in ("/v1/messages", "/v1/messages/", "/v1/mess%61ges")
    ]
    assert statuses == [200, 200, 429]


def test_count_tokens_is_limited_as_count_tokens_however_it_is_spelled(
    live_stack, transactional_db, fake_upstream
):
    from accounts.models import Organization
    from proxy.models import ProxyEndpoint

    organization = Organization.objects.create(name="Count tokens spellings")
    endpoint = ProxyEndpoint.objects.create(
        organization=organization, name="C", slug=fresh_slug("spellings"), require_key=False
    )
    seen = len(fake_upstream.requests)
    status, _, _ = post(live_stack, endpoint, "/v1/messages/count_tokens/", MESSAGE)
    assert status == 200
    assert fake_upstream.requests[seen].path == "/v1/messages/count_tokens"
    # Not metered as a message: count_tokens is free.
    assert not UsageLog.objects.filter(endpoint=endpoint).exists()


def test_a_query_is_forwarded_as_sent_and_never_changes_the_route(live_stack, proxy_endpoint):
    seen = len(live_stack.upstream.requests)
    status, headers, _ = post(
        live_stack, proxy_endpoint, "/v1/messages?beta=true&x=%2e%2e%2f", MESSAGE
    )
    assert status == 200
    received = live_stack.upstream.requests[seen]
    assert (received.path, received.query) == (
        "/v1/messages",
        "beta=true&x=../",
    )  # as decoded by aiohttp
    assert live_stack.log(headers["x-codecosts-log-id"]).path == "/v1/messages"


@pytest.mark.parametrize("query", [b"a=\x7f", b"a=\x01", b"a= b", b"a=\xc3\xa9"])
def test_query_rules(query):
    # The HTTP server refuses most such bytes itself; the proxy checks again whatever it is.
    assert not query_is_clean(query)
    assert query_is_clean(b"beta=true&x=%2e%2e%2f%0d%0a")


# --- Headers -----------------------------------------------------------------------


def test_headers_named_in_connection_are_not_forwarded(live_stack, proxy_endpoint):
    headers = HEADERS + [
        (b"connection", b"keep-alive, X-Foo"),
        (b"x-foo", b"hop-by-hop secret"),
        (b"x-bar", b"end to end"),
        (b"x-fake-scenario", b"echo"),
    ]
    status, _, answer = post(live_stack, proxy_endpoint, "/v1/models", b"", headers)
    assert status == 200
    received = json.loads(answer)["headers"]
    assert "x-foo" not in received
    assert received["x-bar"] == "end to end"


def test_the_codecosts_key_is_never_forwarded(live_stack, proxy_endpoint):
    headers = HEADERS + [(b"x-codecosts-key", b"cc_" + b"k" * 43), (b"x-fake-scenario", b"echo")]
    post(live_stack, proxy_endpoint, "/v1/models", b"", headers)
    assert "x-codecosts-key" not in {
        name.lower() for name in live_stack.upstream.requests[-1].headers
    }


def test_upstream_cors_and_connection_named_headers_are_dropped(live_stack, proxy_endpoint):
    status, headers, _ = post(
        live_stack,
        proxy_endpoint,
        "/v1/messages",
        MESSAGE,
        HEADERS + [(b"x-fake-scenario", b"cors")],
    )
    assert status == 200
    assert not [name for name in headers if name.startswith("access-control-")]
    assert "x-upstream-hop" not in headers
    assert headers["request-id"] == "req_fake_1"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([(f"x-pad-{i}".encode(), b"1") for i in range(10_000)], "Too many request headers"),
        ([(b"x-pad", b"a" * 1_000_000)], "Request headers too large"),
        ([(f"x-pad-{i}".encode(), b"a" * 1000) for i in range(100)], "Request headers too large"),
    ],
    ids=["10000-headers", "1MB-header", "100KB-in-all"],
)
def test_oversized_request_headers_get_431_from_the_proxy_itself(
    live_stack, proxy_endpoint, extra, message
):
    seen = len(live_stack.upstream.requests)
    status, _, answer = post(live_stack, proxy_endpoint, "/v1/messages", MESSAGE, HEADERS + extra)
    assert status == 431
    error = json.loads(answer)
    assert (error["type"], error["error"]["type"]) == ("error", "invalid_request_error")
    assert error["error"]["message"].startswith(message)
    assert len(live_stack.upstream.requests) == seen


# --- Every answer under /proxy/ in the provider's shape ---------------------------


@pytest.mark.parametrize(
    "target",
    [
        b"/proxy/UPPER/v1/messages",
        b"/proxy/caf%C3%A9/v1/messages",
        b"/proxy/" + b"a" * 64 + b"/v1/messages",
        b"/proxy/-dash/v1/messages",
        b"/proxy",
        b"/proxy/",
    ],
)
def test_an_unknown_or_malformed_slug_gets_the_providers_404_or_400(live_stack, target):
    status, headers, answer = raw_request(live_stack.url, "POST", target, HEADERS, MESSAGE)
    assert status in (400, 404)
    assert headers["content-type"] == "application/json"
    error = json.loads(answer)
    assert error["type"] == "error" and error["error"]["type"] in (
        "invalid_request_error",
        "not_found_error",
    )


def test_raw_non_ascii_in_the_request_line_never_reaches_the_provider(live_stack, proxy_endpoint):
    # The HTTP server itself refuses it (a plain 400) before the application sees it.
    seen = len(live_stack.upstream.requests)
    target = f"/proxy/{proxy_endpoint.slug}/v1/m\u00e9ssages".encode()
    status, _, _ = raw_request(live_stack.url, "POST", target, HEADERS, MESSAGE)
    assert status == 400
    assert len(live_stack.upstream.requests) == seen


def test_a_crlf_in_the_path_is_refused_in_the_providers_shape(live_stack, proxy_endpoint):
    status, _, answer = raw_request(
        live_stack.url,
        "POST",
        f"/proxy/{proxy_endpoint.slug}/v1/messages%0D%0A".encode(),
        HEADERS,
        MESSAGE,
    )
    assert status == 400
    assert json.loads(answer)["error"]["type"] == "invalid_request_error"


# --- The rules themselves --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (b"/v1/messages", "/v1/messages"),
        (b"/v1/messages/", "/v1/messages"),
        (b"/", "/"),
        (b"/v1/models/claude-sonnet-4-6", "/v1/models/claude-sonnet-4-6"),
        (b"/v1/models/ft:gpt-4.1:acme::abc", "/v1/models/ft:gpt-4.1:acme::abc"),
        (b"/v1/files/file-abc_1.2~x", "/v1/files/file-abc_1.2~x"),
        (b"/v1/mess%61ges", "/v1/messages"),
    ],
)
def test_canonical_paths(raw, canonical):
    assert canonical_path(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"v1/messages",
        b"/v1/./m",
        b"/v1/../m",
        b"/.",
        b"/..",
        b"/v1//m",
        b"//v1",
        b"/v1/%2e%2e/m",
        b"/v1%2fm",
        b"/v1%5Cm",
        b"/v1\\m",
        b"/v1/m%23",
        b"/v1/m#",
        b"/v1/m?x",
        b"/v1/m%3Fx",
        b"/v1/%25",
        b"/v1/m%00",
        b"/v1/m\r\n",
        b"/v1/\xc3\xa9",
        b"/v1/m;x",
        b"/v1/m x",
        b"/v1/m=1",
        b"/v1/m//",
    ],
)
def test_refused_paths(raw):
    with pytest.raises(PathRefused):
        canonical_path(raw)


def test_a_refused_attack_writes_no_usage_log(live_stack, proxy_endpoint):
    for path, body in REFUSED[:6]:
        post(live_stack, proxy_endpoint, path, body)
    _, headers, _ = post(live_stack, proxy_endpoint, "/v1/messages", MESSAGE)
    live_stack.log(headers["x-codecosts-log-id"])
    wait_until(lambda: UsageLog.objects.filter(endpoint=proxy_endpoint).count() == 1)
    assert UsageLog.objects.filter(endpoint=proxy_endpoint).count() == 1


# --- Django's own error answers under /proxy/ ------------------------------------


@pytest.mark.parametrize(
    ("handler", "status", "error_type"),
    [
        ("handler400", 400, "invalid_request_error"),
        ("handler403", 403, "permission_error"),
        ("handler404", 404, "not_found_error"),
        ("handler500", 500, "api_error"),
    ],
)
def test_djangos_error_handlers_answer_proxy_paths_in_the_providers_shape(
    rf, handler, status, error_type
):
    from codecosts import views

    request = rf.post("/proxy/acme/v1/messages")
    response = (
        getattr(views, handler)(request)
        if handler == "handler500"
        else getattr(views, handler)(request, None)
    )
    assert response.status_code == status
    assert json.loads(response.content)["error"]["type"] == error_type
    request = rf.post("/proxy/acme/openai/v1/chat/completions")
    response = (
        getattr(views, handler)(request)
        if handler == "handler500"
        else getattr(views, handler)(request, None)
    )
    assert "param" in json.loads(response.content)["error"]  # OpenAI's shape
