"""Local mode: the /anthropic and /openai/v1 routes of the `local` endpoint, loopback only.

LOCAL_ONLY judges the socket peer (scope["client"]), never a header. The refusal is
checked twice: at the ASGI level with made-up peers (always), and over a real connection
from a network namespace of the test's own, through a veth pair it creates and removes.
"""

import asyncio
import ipaddress
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid

import anthropic
import httpx
import openai
import pytest

from proxy.asgi import build_application
from proxy.services import local_setup
from tests.live import ROOT, Process, child_env, free_port, raw_request
from tests.live_fixtures import start_stack
from usage.models import UsageLog

NOT_LOOPBACK = "Codecosts runs in local-only mode and accepts loopback connections only."


def forbidden(path: str) -> dict:
    """The 403 in the caller's terms: the provider's shape on proxy routes, else the API's."""
    if path.startswith(("/anthropic", "/proxy/")):
        return {"type": "error", "error": {"type": "permission_error", "message": NOT_LOOPBACK}}
    if path.startswith("/openai"):
        return {
            "error": {"message": NOT_LOOPBACK, "type": "invalid_request_error", "param": None, "code": None}
        }
    return {"error": {"type": "permission_error", "message": NOT_LOOPBACK, "code": "local_only"}}
PROVIDER_KEY = "sk-local-mode-provider-key-0042"


def in_ci() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("CODECOSTS_REQUIRE_SERVICES"))


# --- The peer decision at the ASGI level ---------------------------------------------


class Recorder:
    """A stand-in for Django's ASGI application that answers 200 and notes each call."""

    def __init__(self):
        self.scopes = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(application, path: str, client, headers=()) -> tuple[int, bytes]:
    """Run one GET through the ASGI application; its status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": client,
        "server": ("127.0.0.1", 3739),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


SPOOFS = [
    (b"x-forwarded-for", b"127.0.0.1"),
    (b"x-real-ip", b"127.0.0.1"),
    (b"forwarded", b"for=127.0.0.1"),
    (b"host", b"127.0.0.1:3739"),
]


@pytest.fixture
def local_only(settings):
    settings.LOCAL_ONLY = True
    settings.LOCAL_MODE = True
    return settings


@pytest.mark.parametrize(
    "client",
    [("10.213.7.2", 5555), ("192.168.1.20", 40000), ("::ffff:10.0.0.1", 1), ("2001:db8::1", 1)],
)
@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/anthropic/v1/messages",
        "/openai/v1/chat/completions",
        "/proxy/local/v1/messages",
        "/",
    ],
)
def test_a_non_loopback_peer_gets_403_whatever_its_headers_say(local_only, client, path):
    django = Recorder()
    status, body = call(build_application(django), path, client, SPOOFS)
    assert (status, json.loads(body)) == (403, forbidden(path))
    assert django.scopes == []


@pytest.mark.parametrize(
    "client", [("127.0.0.1", 5555), ("::1", 5555), ("127.8.9.10", 1), ("::ffff:127.0.0.1", 2), None]
)
def test_a_loopback_peer_passes(local_only, client):
    django = Recorder()
    status, body = call(build_application(django), "/health", client)
    assert (status, body) == (200, b"ok")
    assert len(django.scopes) == 1


def test_without_local_only_any_peer_passes(settings):
    settings.LOCAL_ONLY = False
    django = Recorder()
    status, _ = call(build_application(django), "/health", ("10.213.7.2", 5555))
    assert status == 200


# --- A real server in local mode --------------------------------------------------------


@pytest.fixture(scope="module")
def local_stack(django_db_setup, django_db_blocker, tmp_path_factory, fake_upstream):
    """`make run`'s configuration: LOCAL_ONLY and LOCAL_MODE on, no Redis (in-process tasks)."""
    stack = start_stack(
        tmp_path_factory,
        fake_upstream,
        "local-mode",
        redis_url="",
        LOCAL_ONLY=1,
        LOCAL_MODE=1,
        RATE_LIMIT_MESSAGES_PER_MINUTE=0,
    )
    yield stack
    stack.server.stop()


@pytest.mark.integration
def test_a_loopback_client_is_served(local_stack):
    response = httpx.get(local_stack.url + "/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_local_routes_reach_the_upstream_and_log_to_the_local_endpoint(local_stack):
    # One test for both providers: the server keeps its lookup of the `local` slug, and
    # the database is flushed after each test.
    endpoint = local_setup()
    upstream = local_stack.upstream

    message = anthropic.Anthropic(
        api_key=PROVIDER_KEY, base_url=f"{local_stack.url}/anthropic", max_retries=0
    ).messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.parse().usage.input_tokens == 2095
    assert upstream.requests[-1].path == "/v1/messages"

    chat = openai.OpenAI(
        api_key=PROVIDER_KEY, base_url=f"{local_stack.url}/openai/v1", max_retries=0
    ).chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
    )
    assert chat.parse().usage.prompt_tokens == 1200
    assert upstream.requests[-1].path == "/v1/chat/completions"

    for raw, provider, path in (
        (message, "anthropic", "/v1/messages"),
        (chat, "openai", "/v1/chat/completions"),
    ):
        log = local_stack.log(raw.headers["x-codecosts-log-id"])
        assert (log.endpoint_id, log.endpoint_slug, log.organization_id) == (
            endpoint.id,
            "local",
            endpoint.organization_id,
        )
        assert (log.provider, log.path, log.outcome) == (provider, path, "ok")
    assert UsageLog.objects.filter(endpoint=endpoint).count() == 2


# --- Against the browser: cross-site pages and DNS rebinding (issue 8) ------------------

CHAT = json.dumps({"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]}).encode()
SIMPLE_POST = [(b"content-type", b"text/plain"), (b"x-api-key", PROVIDER_KEY.encode())]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        # A page on another site posting a "simple" request (no preflight) at the proxy.
        ("/anthropic/v1/messages", [(b"origin", b"https://evil.example")]),
        ("/openai/v1/chat/completions", [(b"origin", b"https://evil.example")]),
        ("/anthropic/v1/messages", [(b"origin", b"null")]),  # a sandboxed frame or file:
        ("/anthropic/v1/messages", [(b"sec-fetch-site", b"cross-site")]),
        ("/proxy/local/v1/messages", [(b"origin", b"http://localhost.evil.example:3739")]),
        # DNS rebinding: the page's own name now resolves to 127.0.0.1.
        ("/anthropic/v1/messages", [(b"host", b"rebind.evil.example:3739")]),
        ("/health", [(b"host", b"rebind.evil.example")]),
        ("/settings", [(b"host", b"127.0.0.1.evil.example")]),
        ("/api/sessions", [(b"origin", b"https://evil.example")]),
    ],
)
def test_a_cross_site_page_or_a_rebound_host_gets_403(local_stack, path, headers):
    local_setup()
    seen = len(local_stack.upstream.requests)
    host = dict(headers).pop(b"host", None)
    headers = [header for header in headers if header[0] != b"host"]
    status, _, body = raw_request(
        local_stack.url, "POST", path.encode(), SIMPLE_POST + headers, CHAT, host_header=host
    )
    assert status == 403
    assert "local-only mode" in body.decode()
    assert len(local_stack.upstream.requests) == seen  # nothing was forwarded
    assert not UsageLog.objects.exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "headers",
    [
        [(b"origin", b"http://localhost:3739")],
        [(b"origin", b"http://127.0.0.1:3739"), (b"sec-fetch-site", b"same-origin")],
        [(b"sec-fetch-site", b"none")],
        [],
    ],
)
def test_loopback_origins_and_plain_clients_pass(local_stack, headers):
    local_setup()
    status, response_headers, _ = raw_request(
        local_stack.url, "POST", b"/anthropic/v1/messages",
        [(b"content-type", b"application/json"), (b"x-api-key", PROVIDER_KEY.encode()), *headers],
        json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}).encode(),
    )
    assert status == 200
    assert not [name for name in response_headers if name.startswith("access-control-")]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_encoded_path_cannot_cross_from_one_provider_to_the_other(local_stack):
    local_setup()
    seen = len(local_stack.upstream.requests)
    status, _, body = raw_request(
        local_stack.url, "POST", b"/anthropic/v1/%2e%2e/%2e%2e/openai/v1/chat/completions",
        SIMPLE_POST, CHAT,
    )
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert len(local_stack.upstream.requests) == seen


# --- A real non-loopback peer: a network namespace and a veth pair of the test's own ------


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, capture_output=True, text=True, timeout=20)


def _unavailable(reason: str):
    if in_ci():
        pytest.fail(f"network namespace test cannot run in CI: {reason}")
    pytest.skip(
        f"cannot create a network namespace here ({reason}); the ASGI-level tests still ran"
    )


def _free_subnet() -> ipaddress.IPv4Network:
    """A /30 in 10.213.0.0/16 that no interface of this machine uses."""
    used = []
    for line in _run("ip", "-o", "-4", "addr", "show").stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            used.append(ipaddress.ip_interface(fields[fields.index("inet") + 1]).network)
    for _ in range(50):
        subnet = ipaddress.ip_network(
            f"10.213.{random.randrange(256)}.{4 * random.randrange(64)}/30"
        )
        if not any(subnet.overlaps(network) for network in used):
            return subnet
    raise RuntimeError("no free /30 in 10.213.0.0/16")


@pytest.fixture
def netns(request):
    """(namespace, host address, namespace address): a new namespace, joined by a veth pair."""
    if shutil.which("ip") is None:
        _unavailable("iproute2's `ip` is not installed (apt-get install -y iproute2)")
    tag = uuid.uuid4().hex[:6]
    namespace, host_side, ns_side = f"cc-test-{tag}", f"cct{tag}h", f"cct{tag}n"
    subnet = _free_subnet()
    host_address, ns_address = (str(a) for a in subnet.hosts())

    created = _run("ip", "netns", "add", namespace)
    if created.returncode != 0:
        _unavailable(created.stderr.strip())
    request.addfinalizer(lambda: _run("ip", "netns", "delete", namespace))
    # Deleting one end of a veth pair deletes both; the namespace end also goes with the
    # namespace.
    request.addfinalizer(lambda: _run("ip", "link", "delete", host_side))
    steps = [
        ("ip", "link", "add", host_side, "type", "veth", "peer", "name", ns_side),
        ("ip", "link", "set", ns_side, "netns", namespace),
        ("ip", "addr", "add", f"{host_address}/30", "dev", host_side),
        ("ip", "link", "set", host_side, "up"),
        ("ip", "-n", namespace, "addr", "add", f"{ns_address}/30", "dev", ns_side),
        ("ip", "-n", namespace, "link", "set", ns_side, "up"),
        ("ip", "-n", namespace, "link", "set", "lo", "up"),
    ]
    for step in steps:
        result = _run(*step)
        if result.returncode != 0:
            _unavailable(f"`{' '.join(step)}`: {result.stderr.strip()}")
    return namespace, host_address, ns_address


# Runs inside the namespace: each request's status and body, as JSON lines.
CLIENT = r"""
import json, sys, urllib.request, urllib.error
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for method, url, headers in json.loads(sys.argv[1]):
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with opener.open(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    print(json.dumps([status, body.decode("utf-8", "replace")]))
"""

SERVER = (
    "import sys, uvicorn\n"
    "from proxy.management.commands.serve import uvicorn_options\n"
    "uvicorn.run(**uvicorn_options(host=sys.argv[1], port=int(sys.argv[2])))\n"
)


@pytest.fixture
def server_on_veth(netns, tmp_path, fake_upstream, django_db_setup):
    """The product with LOCAL_ONLY on, run with serve's uvicorn options, on the veth address."""
    _, host_address, _ = netns
    port = free_port()
    env = child_env(
        upstream_url=fake_upstream.url,
        spool_dir=tmp_path / "spool",
        redis_url="",
        LOCAL_ONLY=1,
        LOCAL_MODE=1,
    )
    server = Process(
        [sys.executable, "-c", SERVER, host_address, str(port)], env, tmp_path / "server.log"
    ).start()
    url = f"http://{host_address}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.proc.poll() is None, f"server exited:\n{server.log()}"
            try:
                # From this machine's own veth address: not loopback either.
                response = httpx.get(url + "/health", timeout=1, trust_env=False)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, f"server did not answer:\n{server.log()}"
                time.sleep(0.1)
        assert (response.status_code, response.json()) == (403, forbidden("/health"))
        yield url
    finally:
        server.stop()


@pytest.mark.integration
def test_a_peer_in_another_network_namespace_gets_403_even_claiming_loopback(
    netns, server_on_veth, fake_upstream
):
    namespace, _, _ = netns
    spoof = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Forwarded": "for=127.0.0.1"}
    requests = [
        ("GET", f"{server_on_veth}/health", {}),
        ("GET", f"{server_on_veth}/health", spoof),
        ("POST", f"{server_on_veth}/anthropic/v1/messages", {**spoof, "x-api-key": PROVIDER_KEY}),
        ("POST", f"{server_on_veth}/openai/v1/chat/completions", spoof),
        ("POST", f"{server_on_veth}/proxy/local/v1/messages", spoof),
    ]
    seen_upstream = len(fake_upstream.requests)
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", CLIENT, json.dumps(requests)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == len(requests)
    for (_, url, _), (status, body) in zip(requests, answers):
        path = url.removeprefix(server_on_veth)
        assert (status, json.loads(body)) == (403, forbidden(path))
    assert len(fake_upstream.requests) == seen_upstream  # nothing was forwarded
