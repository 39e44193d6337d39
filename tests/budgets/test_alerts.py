"""Budget alerts (issue 14): each threshold once per period, to email, signed webhooks and
Slack, retried with backoff; outgoing URLs refused when they reach private networks
(SSRF); the destinations API for the owner, a member and an outsider.

Webhooks go to a real HTTP receiver on loopback (a thread of this process); usage is
written through the real usage writer; tasks run eagerly as in local mode, except in
the integration test, where a real Celery worker delivers.
"""

import json
import socket
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.core.exceptions import ValidationError

from budgets import outbound
from budgets.models import AlertDelivery, AlertDestination, Budget
from budgets.services import alert_destination_create, budget_create
from budgets.tasks import alert_deliver
from proxy.models import ProxyEndpoint
from tests.factories import usage_record
from usage.services.logs import usage_log_record_many

pytestmark = pytest.mark.django_db(transaction=True)

# tests.factories' call costs 1.1175 cents; a 4-cent budget: 2 calls 56 %, 3 calls 84 %,
# 4 calls 112 %.
MARCH = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
APRIL = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)


class Receiver:
    """A webhook receiver on loopback: records every request, answers the next scripted
    status (then 200), and can answer a redirect."""

    def __init__(self, statuses=()):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": body, "at": time.monotonic()}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", "/elsewhere")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/codecosts"

    def payloads(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.requests]


@pytest.fixture
def receiver():
    running = Receiver()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(autouse=True)
def eager_tasks(settings):
    """Tasks inline, as in local mode, even when REDIS_URL is set for this run; webhooks to
    loopback allowed (the receiver), unless a test turns the SSRF checks on."""
    conf = alert_deliver.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, True
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = True
    settings.PUBLIC_URL = "https://codecosts.example.com"
    yield
    conf.task_always_eager = eager


@pytest.fixture
def hosted(settings):
    """Hosted mode's rule for outgoing URLs: nothing private."""
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = False


@pytest.fixture
def app_endpoint(org) -> ProxyEndpoint:
    return ProxyEndpoint.objects.create(organization=org, name="Acme app", slug="acme-app")


def spend(endpoint, calls: int, at: datetime = MARCH) -> None:
    """Calls through the real usage writer, made at `at`."""
    usage_log_record_many(
        records=[usage_record(endpoint=endpoint, started_at=at.timestamp()) for _ in range(calls)]
    )


def monthly(org, **fields) -> Budget:
    values = dict(name="Team monthly", amount_cents=Decimal("4"), period="month")
    return budget_create(organization=org, **{**values, **fields})


def webhook(org, url: str) -> AlertDestination:
    return alert_destination_create(organization=org, kind="webhook", target=url)


def delivered(destination) -> list[AlertDelivery]:
    return list(
        AlertDelivery.objects.filter(destination=destination)
        .select_related("alert")
        .order_by("alert__period_start", "alert__threshold")
    )


# --- SSRF: outgoing URLs are user input (the attack first) ----------------------------


def test_a_loopback_or_metadata_target_is_refused_at_creation_in_hosted_mode(org, hosted, receiver):
    with pytest.raises(ValidationError) as loopback:
        webhook(org, f"http://127.0.0.1:{receiver.port}/")
    with pytest.raises(ValidationError) as metadata:
        webhook(org, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")

    [loopback_error] = loopback.value.error_dict["target"]
    assert loopback_error.code == "unsafe_target"
    assert loopback_error.messages == [
        "target host 127.0.0.1 resolves to 127.0.0.1, a loopback address: alerts are only "
        "sent to public addresses"
    ]
    [metadata_error] = metadata.value.error_dict["target"]
    assert "169.254.169.254, a link-local address" in metadata_error.messages[0]
    assert not AlertDestination.objects.exists()
    assert receiver.requests == []






@pytest.mark.parametrize(
    "url, kind",
    [
        ("http://localhost/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.1/", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://169.254.169.254/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.251/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "non-public"),  # carrier-grade NAT
    ],
)
def test_every_kind_of_private_address_is_refused_in_hosted_mode(org, hosted, url, kind):
    for destination_kind in ("webhook", "slack"):
        with pytest.raises(ValidationError) as refused:
            alert_destination_create(organization=org, kind=destination_kind, target=url)
        assert f"a {kind} address" in refused.value.message_dict["target"][0]


@pytest.mark.parametrize(
    "url, code",
    [
        ("file:///etc/passwd", "invalid_scheme"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "invalid_scheme"),
        ("ftp://example.com/", "invalid_scheme"),
        ("hooks.example.com/alerts", "invalid_scheme"),
        ("http:///no-host", "invalid_url"),
        ("https://" + "a" * 500 + ".com/", "too_long"),
    ],
)
def test_only_http_urls_are_accepted_whatever_the_mode(org, url, code):
    with pytest.raises(ValidationError) as refused:
        webhook(org, url)
    assert refused.value.error_dict["target"][0].code == code


def test_an_unresolvable_host_is_refused_at_creation_in_hosted_mode(org, hosted):
    with pytest.raises(ValidationError) as refused:
        webhook(org, "https://no-such-host.invalid/hook")
    assert refused.value.error_dict["target"][0].code == "unresolvable"


def test_a_public_target_is_connected_to_at_the_address_that_was_checked(hosted, monkeypatch):
    """The request goes to the resolved, checked address; Host and SNI keep the name, so
    nothing resolves the name a second time."""
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo",
        lambda host, port, *a, **k: real("93.184.215.14" if host == "hooks.example.com" else host, port, *a, **k),
    )
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    status = outbound.post(
        "https://hooks.example.com:8443/in?x=1", body=b"{}", headers={},
        transport=httpx.MockTransport(answer),
    )

    [request] = seen
    assert status == 204
    assert str(request.url) == "https://93.184.215.14:8443/in?x=1"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_the_address_check_names_what_it_refuses():
    assert outbound.address_refusal("8.8.8.8") is None
    assert outbound.address_refusal("2606:4700:4700::1111") is None
    assert outbound.address_refusal("2002:7f00:1::1") == "loopback"  # 6to4 around 127.0.0.1
    assert outbound.address_refusal("64:ff9b::7f00:1") == "reserved"  # NAT64
    assert outbound.address_refusal("fe80::1%eth0") == "link-local"


# --- Each threshold once per period -----------------------------------------------------








# --- Retries ----------------------------------------------------------------------------














# --- Email and Slack ----------------------------------------------------------------------










# --- Creating destinations ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, target, field, code",
    [
        ("sms", "+33600000000", "kind", "invalid_kind"),
        ("email", "not an address", "target", "invalid_email"),
        ("email", "", "target", "required"),
        ("webhook", "   ", "target", "required"),
    ],
)
def test_a_destination_is_validated(org, kind, target, field, code):
    with pytest.raises(ValidationError) as refused:
        alert_destination_create(organization=org, kind=kind, target=target)
    assert refused.value.error_dict[field][0].code == code


def test_only_a_webhook_gets_a_signing_secret(org, receiver):
    hook = webhook(org, receiver.url)
    slack = alert_destination_create(organization=org, kind="slack", target=receiver.url)
    email = alert_destination_create(organization=org, kind="email", target=" a@acme.example ")
    assert len(hook.secret) == 48 and int(hook.secret, 16) >= 0
    assert (slack.secret, email.secret, email.target) == ("", "", "a@acme.example")


# --- The destinations API ---------------------------------------------------------------------

























# --- With a real worker ---------------------------------------------------------------------




