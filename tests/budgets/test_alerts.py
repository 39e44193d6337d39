"""Budget alerts (issue 14): each threshold once per period, to email, signed webhooks and
Slack, retried with backoff; outgoing URLs refused when they reach private networks
(SSRF); the destinations API for the owner, a member and an outsider.

Webhooks go to a real HTTP receiver on loopback (a thread of this process); usage is
written through the real usage writer; tasks run eagerly as in local mode, except in
the integration test, where a real Celery worker delivers.
"""

import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from accounts.models import Organization
from budgets import outbound
from budgets.alerts import (
    EAGER_MAX_ATTEMPTS,
    MAX_ATTEMPTS,
    RETRY_BASE_SECONDS,
    alert_delivery_attempt,
    retry_countdown,
    webhook_payload,
)
from budgets.destinations import alert_destination_create
from budgets.models import AlertDelivery, AlertDestination, Budget, BudgetAlert
from budgets.selectors import alert_delivery_log
from budgets.services import budget_create, budget_refresh
from budgets.tasks import alert_deliver
from proxy.models import ProxyEndpoint
from tests.conftest import _api_client
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


def test_a_target_that_became_private_is_refused_at_send_time_and_receives_nothing(
    org, app_endpoint, receiver, settings
):
    """Saved while allowed (or while its name resolved elsewhere: DNS rebinding), then
    checked again when the alert goes: refused once, not retried, nothing sent."""
    loopback = webhook(org, receiver.url)
    by_name = webhook(org, f"http://localhost:{receiver.port}/hooks")
    metadata = alert_destination_create(
        organization=org, kind="slack", target="http://169.254.169.254/latest/meta-data/"
    )
    settings.ALERT_WEBHOOKS_ALLOW_PRIVATE = False
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(budget, now=MARCH)

    assert receiver.requests == []
    for destination, address, kind in [
        (loopback, "127.0.0.1", "loopback"),
        (by_name, "127.0.0.1", "loopback"),
        (metadata, "169.254.169.254", "link-local"),
    ]:
        [delivery] = delivered(destination)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, None)
        assert delivery.last_error.startswith("refused: target host ")
        assert f"resolves to {address}, a {kind} address" in delivery.last_error


def test_a_name_rebound_to_loopback_after_creation_is_refused_at_send_time(
    org, app_endpoint, receiver, hosted, monkeypatch
):
    """The name resolves to a public address when the destination is made, to 127.0.0.1
    when the alert goes (the resolver is the only thing replaced: DNS is the attacker's)."""
    answers = iter(["93.184.215.14", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.attacker.example":
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    destination = webhook(org, f"http://rebind.attacker.example:{receiver.port}/")
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(budget, now=MARCH)

    [delivery] = delivered(destination)
    assert delivery.status == "failed"
    assert "resolves to 127.0.0.1, a loopback address" in delivery.last_error
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


def test_an_unresolvable_host_is_accepted_then_retried_and_failed_at_send_time(
    org, app_endpoint, hosted
):
    """DNS may fail for a moment: the name is checked again at every send (.invalid never
    resolves, RFC 6761)."""
    destination = webhook(org, "https://no-such-host.invalid/hook")
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(budget, now=MARCH)

    [delivery] = delivered(destination)
    assert (delivery.status, delivery.attempts) == ("failed", EAGER_MAX_ATTEMPTS)
    assert delivery.last_error.startswith("target host no-such-host.invalid could not be resolved")


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


def test_each_threshold_alerts_once_per_period_and_again_the_next(org, app_endpoint, receiver):
    destination = webhook(org, receiver.url)
    budget = monthly(org)

    spend(app_endpoint, 2)  # 2.235 of 4 cents: 55.9 %
    budget_refresh(budget, now=MARCH)
    budget_refresh(budget, now=MARCH)
    assert [p["threshold"] for p in receiver.payloads()] == [50]

    spend(app_endpoint, 1)  # 83.8 %
    budget_refresh(budget, now=MARCH)
    budget_refresh(budget, now=MARCH)
    spend(app_endpoint, 1)  # 111.75 %
    budget_refresh(budget, now=MARCH)
    budget_refresh(budget, now=MARCH)
    assert [p["threshold"] for p in receiver.payloads()] == [50, 80, 100]
    assert [p["spend_cents"] for p in receiver.payloads()] == ["2.235", "3.3525", "4.47"]

    spend(app_endpoint, 4, at=APRIL)  # the next month: over at once, every threshold again
    budget_refresh(budget, now=APRIL)
    budget_refresh(budget, now=APRIL)

    payloads = receiver.payloads()
    assert [(p["period_start"], p["threshold"]) for p in payloads] == [
        ("2026-03-01T00:00:00Z", 50),
        ("2026-03-01T00:00:00Z", 80),
        ("2026-03-01T00:00:00Z", 100),
        ("2026-04-01T00:00:00Z", 50),
        ("2026-04-01T00:00:00Z", 80),
        ("2026-04-01T00:00:00Z", 100),
    ]
    assert BudgetAlert.objects.filter(budget=budget).count() == 6
    assert [(d.status, d.attempts) for d in delivered(destination)] == [("sent", 1)] * 6


def test_the_webhook_body_is_signed_with_the_destinations_secret(org, app_endpoint, receiver):
    destination = webhook(org, receiver.url)
    budget = monthly(org, scope="endpoint", endpoint=app_endpoint, hard_limit=True,
                     hard_limit_cents=Decimal("5"), thresholds=[50])
    spend(app_endpoint, 2)

    before = int(time.time())
    budget_refresh(budget, now=MARCH)

    [request] = receiver.requests
    [delivery] = delivered(destination)
    headers, body = request["headers"], request["body"]
    assert request["path"] == "/hooks/codecosts"
    assert headers["content-type"] == "application/json"
    assert headers["x-codecosts-delivery"] == str(delivery.pk)
    fields = dict(part.split("=", 1) for part in headers["x-codecosts-signature"].split(","))
    assert before <= int(fields["t"]) <= time.time()
    expected = hmac.new(
        destination.secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    payload = json.loads(body)
    sent_at = payload.pop("sent_at")
    assert datetime.fromisoformat(sent_at).timestamp() == pytest.approx(time.time(), abs=10)
    assert payload == {
        "type": "budget.threshold",
        "budget": {
            "id": str(budget.id),
            "name": "Team monthly",
            "scope": "endpoint",
            "endpoint": {"id": str(app_endpoint.id), "slug": "acme-app", "name": "Acme app"},
            "person": None,
            "period": "month",
            "amount_cents": "4",
            "limit_cents": "5",
            "hard_limit": True,
        },
        "threshold": 50,
        "spend_cents": "2.235",
        "period_start": "2026-03-01T00:00:00Z",
        "period_end": "2026-04-01T00:00:00Z",
        "organization": {"id": str(org.id), "name": "Acme"},
    }
    # A body changed on the way no longer matches.
    tampered = body.replace(b'"threshold":50', b'"threshold":80')
    assert tampered != body
    assert hmac.new(
        destination.secret.encode(), f"{fields['t']}.".encode() + tampered, hashlib.sha256
    ).hexdigest() != fields["v1"]


def test_a_period_in_the_organizations_zone_is_sent_as_its_utc_bounds(org, app_endpoint, receiver):
    org.time_zone = "Europe/Paris"
    org.save()
    webhook(org, receiver.url)
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(Budget.objects.select_related("organization").get(pk=budget.pk), now=MARCH)

    [payload] = receiver.payloads()
    # March in Paris: from 1 March 00:00 CET to 1 April 00:00 CEST.
    assert (payload["period_start"], payload["period_end"]) == (
        "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"
    )


# --- Retries ----------------------------------------------------------------------------


def test_a_receiver_failing_twice_is_retried_and_the_delivery_ends_sent(org, app_endpoint, receiver):
    destination = webhook(org, receiver.url)
    receiver.statuses = [500, 500]
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(budget, now=MARCH)

    [delivery] = delivered(destination)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("sent", 3, 200)
    assert delivery.last_error == ""
    assert delivery.delivered_at is not None
    assert len(receiver.requests) == 3
    # The same delivery each time.
    assert {r["headers"]["x-codecosts-delivery"] for r in receiver.requests} == {str(delivery.pk)}


def test_a_receiver_that_keeps_failing_ends_failed_after_the_last_attempt(org, app_endpoint, receiver):
    destination = webhook(org, receiver.url)
    receiver.statuses = [503] * 10
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(budget, now=MARCH)

    [delivery] = delivered(destination)
    assert (delivery.status, delivery.attempts) == ("failed", EAGER_MAX_ATTEMPTS)
    assert (delivery.last_status_code, delivery.last_error) == (503, "HTTP 503")
    assert delivery.delivered_at is None
    assert len(receiver.requests) == EAGER_MAX_ATTEMPTS


def test_a_redirect_is_not_followed(org, app_endpoint, receiver):
    destination = webhook(org, receiver.url)
    receiver.statuses = [302, 200]
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(budget, now=MARCH)

    assert [r["path"] for r in receiver.requests] == ["/hooks/codecosts", "/hooks/codecosts"]
    [delivery] = delivered(destination)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("sent", 2, 200)


def test_a_receiver_that_is_not_there_is_a_network_error_recorded_on_the_delivery(org, app_endpoint):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    destination = webhook(org, f"http://127.0.0.1:{port}/")
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(budget, now=MARCH)

    [delivery] = delivered(destination)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "failed", EAGER_MAX_ATTEMPTS, None
    )
    assert delivery.last_error.startswith("ConnectError")


def test_a_sent_delivery_is_never_sent_again(org, app_endpoint, receiver):
    destination = webhook(org, receiver.url)
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)
    budget_refresh(budget, now=MARCH)
    [delivery] = delivered(destination)

    alert_deliver.delay(delivery.pk)  # the task delivered twice
    alert_deliver.delay(delivery.pk, 2)  # and a retry's copy
    assert alert_delivery_attempt(delivery_id=delivery.pk, attempt=1, max_attempts=6) is None

    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 1)


def test_the_retry_schedule_doubles_from_ten_seconds_and_stays_under_a_minute():
    assert [retry_countdown(attempt) for attempt in range(1, MAX_ATTEMPTS)] == [10, 20, 40, 50, 50]
    assert MAX_ATTEMPTS == 6


# --- Email and Slack ----------------------------------------------------------------------


def test_an_email_alert_names_the_budget_spend_period_reset_and_dashboard(org, app_endpoint):
    destination = alert_destination_create(organization=org, kind="email", target="finance@acme.example")
    budget = monthly(org, thresholds=[80], hard_limit=True)
    spend(app_endpoint, 3)

    budget_refresh(budget, now=MARCH)

    [message] = mail.outbox
    assert message.to == ["finance@acme.example"]
    assert message.subject == "Codecosts budget 'Team monthly' reached 80%"
    assert message.body == (
        "Budget 'Team monthly' of Acme reached 80% of its amount.\n\n"
        "Spent: $0.0335 of $0.04 this month (83.8%)\n"
        "Period: 2026-03-01 00:00 to 2026-04-01 00:00 UTC\n"
        "Resets: 2026-04-01 00:00 UTC\n"
        "Covers: the whole organization\n"
        "Hard limit: calls it covers are refused from $0.04\n\n"
        "Dashboard: https://codecosts.example.com/\n"
    )
    [delivery] = delivered(destination)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("sent", 1, None)


def test_an_email_alert_goes_through_the_console_backend_by_default(org, app_endpoint, settings, capsys):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
    alert_destination_create(organization=org, kind="email", target="finance@acme.example")
    budget = monthly(org, thresholds=[50], scope="person", person="alice")
    usage_log_record_many(records=[
        usage_record(endpoint=app_endpoint, started_at=MARCH.timestamp(),
                     attribution={"x-codecosts-user": "alice"})
        for _ in range(2)
    ])

    budget_refresh(budget, now=MARCH)

    out = capsys.readouterr().out
    assert "Subject: Codecosts budget 'Team monthly' reached 50%" in out
    assert "To: finance@acme.example" in out
    assert "Covers: person alice" in out
    assert "Spent: $0.0224 of $0.04 this month (55.9%)" in out
    assert mail.outbox == []


def test_a_slack_alert_is_a_text_message_without_signature(org, app_endpoint, receiver):
    alert_destination_create(organization=org, kind="slack", target=receiver.url)
    budget = monthly(org, thresholds=[100])
    spend(app_endpoint, 4)

    budget_refresh(budget, now=MARCH)

    [request] = receiver.requests
    assert "x-codecosts-signature" not in request["headers"]
    assert json.loads(request["body"]) == {
        "text": "*Codecosts budget 'Team monthly' reached 100%*\n"
        "Budget 'Team monthly' of Acme reached 100% of its amount.\n\n"
        "Spent: $0.0447 of $0.04 this month (111.8%)\n"
        "Period: 2026-03-01 00:00 to 2026-04-01 00:00 UTC\n"
        "Resets: 2026-04-01 00:00 UTC\n"
        "Covers: the whole organization\n"
        "Hard limit: none (calls are never refused)\n\n"
        "Dashboard: https://codecosts.example.com/\n"
    }


def test_every_destination_of_the_organization_gets_the_alert_and_no_other(
    org, other_org, app_endpoint, receiver
):
    ours = webhook(org, receiver.url)
    email = alert_destination_create(organization=org, kind="email", target="a@acme.example")
    theirs = webhook(other_org, receiver.url + "/globex")
    budget = monthly(org, thresholds=[50])
    spend(app_endpoint, 2)

    budget_refresh(budget, now=MARCH)

    assert [r["path"] for r in receiver.requests] == ["/hooks/codecosts"]
    assert len(mail.outbox) == 1
    assert [len(delivered(d)) for d in (ours, email, theirs)] == [1, 1, 0]


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

LIST_URL = "/api/alert-destinations"


@pytest.fixture
def member_client(member):
    client = _api_client()
    client.force_login(member)
    return client


def test_the_owner_adds_a_webhook_and_sees_its_secret_once(api_client, org, receiver):
    response = api_client.post(LIST_URL, {"kind": "webhook", "target": receiver.url})

    assert response.status_code == 201, response.content
    body = response.json()
    destination = AlertDestination.objects.get(id=body["id"])
    assert destination.organization == org
    assert body == {
        "id": str(destination.id),
        "kind": "webhook",
        "target": receiver.url,
        "secret": destination.secret,
        "created_at": destination.created_at.isoformat().replace("+00:00", "Z"),
    }
    listed = api_client.get(LIST_URL).json()
    assert listed == {
        "items": [{k: v for k, v in body.items() if k != "secret"}],
        "nextCursor": None,
        "hasMore": False,
    }
    assert "secret" not in api_client.get(f"{LIST_URL}/{destination.id}").json()


def test_a_slack_url_is_listed_masked(api_client, org):
    url = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXabcd"
    created = api_client.post(LIST_URL, {"kind": "slack", "target": url}).json()
    assert (created["target"], created["secret"]) == (url, None)
    [listed] = api_client.get(LIST_URL).json()["items"]
    assert listed["target"] == "https://hooks.slack.com/…abcd"


def test_an_unsafe_target_is_a_400_in_the_shared_error_shape(api_client, hosted):
    response = api_client.post(LIST_URL, {"kind": "webhook", "target": "http://169.254.169.254/"})

    assert response.status_code == 400
    assert response.json() == {"error": {
        "type": "invalid_request_error",
        "message": "target host 169.254.169.254 resolves to 169.254.169.254, a link-local "
        "address: alerts are only sent to public addresses.",
        "code": "unsafe_target",
        "fields": {"target": [
            "target host 169.254.169.254 resolves to 169.254.169.254, a link-local address: "
            "alerts are only sent to public addresses"
        ]},
    }}
    assert not AlertDestination.objects.exists()


def test_a_missing_field_and_a_bad_email_are_400s(api_client):
    missing = api_client.post(LIST_URL, {"kind": "email"})
    bad = api_client.post(LIST_URL, {"kind": "email", "target": "finance at acme"})
    assert (missing.status_code, missing.json()["error"]["fields"]) == (
        400, {"target": ["This field is required."]}
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_email")


def test_the_owner_removes_a_destination(api_client, org):
    destination = alert_destination_create(organization=org, kind="email", target="a@acme.example")
    response = api_client.delete(f"{LIST_URL}/{destination.id}")
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert not AlertDestination.objects.exists()


def test_a_member_lists_but_cannot_add_or_remove(member_client, org):
    destination = alert_destination_create(organization=org, kind="email", target="a@acme.example")

    listed = member_client.get(LIST_URL)
    added = member_client.post(LIST_URL, {"kind": "email", "target": "b@acme.example"})
    removed = member_client.delete(f"{LIST_URL}/{destination.id}")

    assert [item["id"] for item in listed.json()["items"]] == [str(destination.id)]
    refusal = "Only an owner of the organization can change budgets."
    assert (added.status_code, added.json()["error"]["message"]) == (403, refusal)
    assert (removed.status_code, removed.json()["error"]["type"]) == (403, "permission_error")
    assert list(AlertDestination.objects.values_list("target", flat=True)) == ["a@acme.example"]
    assert member_client.get(f"{LIST_URL}/{destination.id}/deliveries").status_code == 200


def test_an_outsider_sees_nothing_of_another_organizations_destinations(outsider_client, org):
    destination = alert_destination_create(organization=org, kind="email", target="a@acme.example")

    assert outsider_client.get(LIST_URL).json()["items"] == []
    for response in (
        outsider_client.get(f"{LIST_URL}/{destination.id}"),
        outsider_client.get(f"{LIST_URL}/{destination.id}/deliveries"),
        outsider_client.delete(f"{LIST_URL}/{destination.id}"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
    assert AlertDestination.objects.filter(id=destination.id).exists()


def test_anonymous_callers_get_401(anonymous_client, org):
    destination = alert_destination_create(organization=org, kind="email", target="a@acme.example")
    for response in (
        anonymous_client.get(LIST_URL),
        anonymous_client.post(LIST_URL, {"kind": "email", "target": "x@example.com"}),
        anonymous_client.delete(f"{LIST_URL}/{destination.id}"),
        anonymous_client.get(f"{LIST_URL}/{destination.id}/deliveries"),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"


def test_the_delivery_log_is_newest_first_with_how_each_went(api_client, org, app_endpoint, receiver):
    destination = webhook(org, receiver.url)
    budget = monthly(org)
    receiver.statuses = [500]
    spend(app_endpoint, 2)
    budget_refresh(budget, now=MARCH)
    spend(app_endpoint, 2)
    budget_refresh(budget, now=MARCH)

    response = api_client.get(f"{LIST_URL}/{destination.id}/deliveries")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["threshold"], i["status"], i["attempts"], i["last_status_code"]) for i in items] == [
        (100, "sent", 1, 200), (80, "sent", 1, 200), (50, "sent", 2, 200),
    ]
    first = items[-1]
    delivery = AlertDelivery.objects.get(pk=first["id"])
    assert first == {
        "id": delivery.pk,
        "status": "sent",
        "attempts": 2,
        "last_status_code": 200,
        "last_error": "",
        "budget_id": str(budget.id),
        "budget_name": "Team monthly",
        "threshold": 50,
        "period_start": "2026-03-01T00:00:00Z",
        "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "delivered_at": delivery.delivered_at.isoformat().replace("+00:00", "Z"),
    }
    page = api_client.get(f"{LIST_URL}/{destination.id}/deliveries", {"limit": 2}).json()
    rest = api_client.get(
        f"{LIST_URL}/{destination.id}/deliveries", {"limit": 2, "cursor": page["nextCursor"]}
    ).json()
    assert [i["threshold"] for i in page["items"] + rest["items"]] == [100, 80, 50]


def test_the_delivery_log_selector_covers_the_organization_newest_first(org, other_org, app_endpoint, receiver):
    webhook(org, receiver.url)
    alert_destination_create(organization=org, kind="email", target="a@acme.example")
    webhook(other_org, receiver.url)
    budget = monthly(org, thresholds=[50, 100])
    spend(app_endpoint, 4)
    budget_refresh(budget, now=MARCH)

    log = alert_delivery_log(org)

    assert [(d.alert.threshold, d.destination.kind) for d in log] == [
        (100, "email"), (100, "webhook"), (50, "email"), (50, "webhook")
    ]
    assert {d.alert.budget.name for d in log} == {"Team monthly"}
    assert len(alert_delivery_log(org, limit=3)) == 3
    assert alert_delivery_log(other_org) == []


# --- With a real worker ---------------------------------------------------------------------


@pytest.mark.integration
def test_a_celery_worker_delivers_the_alert_of_a_proxied_call(
    settings, tmp_path_factory, fake_upstream, receiver
):
    """The product as deployed: a call through uvicorn, written by the worker, whose budget
    refresh queues the alert on "default", which the worker delivers, signed; the
    receiver's first answer is a 500, so the worker's retry (10 s later) delivers it."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: a Celery worker delivers alerts only with a broker")
    from tests.live import redis_url_for_tests, wait_until
    from tests.live_fixtures import start_stack

    organization = Organization.objects.create(name=f"Alerts {uuid.uuid4().hex[:6]}")
    endpoint = ProxyEndpoint.objects.create(
        organization=organization, name="Live", slug=f"alerts-{uuid.uuid4().hex[:10]}",
        require_key=False,
    )
    destination = webhook(organization, receiver.url)
    receiver.statuses = [500]
    budget_create(
        organization=organization, name="Tiny", amount_cents=Decimal("0.01"), period="month",
        thresholds=[100],
    )
    # A Redis database of its own: the session's live stack runs a worker too, which
    # (hosted, private targets refused) must not take this stack's alert tasks.
    shared = redis_url_for_tests()
    base, _, db = shared.rpartition("/")
    stack = start_stack(
        tmp_path_factory, fake_upstream, "alerts", redis_url=f"{base}/{(int(db) + 1) % 16}",
        ALERT_WEBHOOKS_ALLOW_PRIVATE=1, RATE_LIMIT_MESSAGES_PER_MINUTE=0,
    )
    try:
        response = httpx.post(
            f"{stack.base_url(endpoint)}/v1/messages",
            headers={"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"},
            json={"model": "claude-sonnet-4-6", "max_tokens": 64,
                  "messages": [{"role": "user", "content": "Hi"}]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        wait_until(lambda: len(receiver.requests) == 2, timeout=45,
                   message=lambda: f"the alert sent twice{stack.process_logs()}")
        wait_until(lambda: delivered(destination)[0].status == "sent", timeout=10)
    finally:
        stack.server.stop()
        stack.worker.stop()

    first, request = receiver.requests
    retried_after = request["at"] - first["at"]
    assert RETRY_BASE_SECONDS <= retried_after < RETRY_BASE_SECONDS + 5
    payload = json.loads(request["body"])
    assert (payload["budget"]["name"], payload["threshold"]) == ("Tiny", 100)
    t, v1 = (part.split("=", 1)[1] for part in request["headers"]["x-codecosts-signature"].split(","))
    assert v1 == hmac.new(destination.secret.encode(), f"{t}.".encode() + request["body"],
                          hashlib.sha256).hexdigest()
    [delivery] = delivered(destination)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("sent", 2, 200)


def test_webhook_payload_is_plain_json(org):
    """What webhook_payload builds serialises as it is (no Decimal, no datetime)."""
    budget = Budget.objects.create(organization=org, name="b", amount_cents=Decimal("1.5"))
    alert = BudgetAlert.objects.create(
        budget=budget, period_start=datetime(2026, 3, 1, tzinfo=UTC), threshold=50,
        spend_cents=Decimal("0.75"),
    )
    assert json.loads(json.dumps(webhook_payload(alert)))["budget"]["amount_cents"] == "1.5"
