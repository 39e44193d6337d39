"""Secrets never stored, through the running product (uvicorn, and the Celery worker when
REDIS_URL is set; PostgreSQL in CI): issue 15.

An attacker's (or a careless user's) calls carry a secret of every kind in the request
body, in the attribution headers, the session name and the user agent; the fake
provider sends them back in a response, in an error body (whose message the log keeps)
and in a stream (a few characters an event). Afterwards no column of any table of the database and no file of the
server's spool directory (its journal included) holds any of them, while the provider
got every byte as sent and the logs keep their usage, with markers where the secrets were.
"""

import json
import random
import uuid

import httpx
import pytest

from tests.db_scan import db_scan, files_scan
from usage.models import BodyPiece, UsageLog, UsageLogBody
from usage.selectors.bodies import usage_log_bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _core() -> str:
    """A random part no other test uses: what the scans look for."""
    return uuid.uuid4().hex


class Secrets:
    def __init__(self):
        cores = [_core() for _ in range(8)]
        self.cores = [core[:20] for core in cores]
        self.anthropic = f"sk-ant-api03-{cores[0]}{cores[0]}AA"
        self.openai_project = f"sk-proj-{cores[1]}-{cores[1]}"
        self.openai_legacy = f"sk-{cores[2]}{cores[2][:16]}"
        self.bearer = f"{cores[3]}.{cores[3]}"
        self.aws_key_id = "AKIA" + cores[4][:16].upper()
        self.aws_secret = cores[5] + "abcd/EF+"
        self.pem_line = cores[6] + cores[6]
        self.pem = f"-----BEGIN RSA PRIVATE KEY-----\n{self.pem_line}\nAQAB==\n-----END RSA PRIVATE KEY-----"
        self.organization = f"ACME-{random.randrange(100_000, 999_999)}"
        self.cores[4] = self.aws_key_id[4:]
        self.cores[7] = self.organization

    def dotenv(self) -> str:
        return (
            f"ANTHROPIC_API_KEY={self.anthropic}\nOPENAI_API_KEY={self.openai_project}\n"
            f"LEGACY={self.openai_legacy}\nAUTH=Bearer {self.bearer}\n"
            f"AWS_ACCESS_KEY_ID={self.aws_key_id}\nAWS_SECRET_ACCESS_KEY={self.aws_secret}\n"
            f"TICKET={self.organization}\n{self.pem}\n"
        )


@pytest.fixture
def secrets():
    return Secrets()


def attack(stack, endpoint, secrets: Secrets, *, scenario: str, stream: bool = False) -> httpx.Response:
    body = json.dumps({
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 64,
        "stream": stream,
        "system": f"Deploy with {secrets.anthropic}",
        # Over the body store's threshold: the request is cut into pieces (BodyPiece), one
        # of them holding secrets.
        "tools": [{"name": "Deploy", "description": f"Uses {secrets.aws_key_id}. " + "Deploys. " * 600,
                   "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Read my .env"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": ".env"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": secrets.dotenv()}]},
        ],
    }).encode()
    headers = {
        "content-type": "application/json",
        "x-api-key": secrets.anthropic,  # forwarded, never stored (nor echoed into a log)
        "user-agent": f"attack/1.0 ({secrets.openai_legacy})",
        "x-codecosts-user": f"bob {secrets.aws_key_id}",
        "x-codecosts-tags": f"deploy,{secrets.openai_project}",
        "x-codecosts-property-token": f"Bearer {secrets.bearer}",
        "x-codecosts-session": f"aws_secret_access_key={secrets.aws_secret}",
        "x-fake-scenario": scenario,
    }
    response = httpx.post(stack.base_url(endpoint) + "/v1/messages", content=body, headers=headers, timeout=30)
    received = stack.upstream.requests[-1]
    assert received.body == body, "the provider gets the request exactly as sent"
    assert received.headers["x-api-key"] == secrets.anthropic
    return response


def test_no_secret_of_a_call_is_stored_anywhere(live_stack, proxy_endpoint, secrets):
    organization = proxy_endpoint.organization
    organization.redaction_patterns = [r"ACME-\d{6}"]
    organization.save(update_fields=["redaction_patterns"])

    answers = [
        attack(live_stack, proxy_endpoint, secrets, scenario="echo"),
        attack(live_stack, proxy_endpoint, secrets, scenario="echo,status=400"),
        # The answer spells the secrets out a few characters an event, as a model does.
        attack(live_stack, proxy_endpoint, secrets, scenario="echo_sse,split=7", stream=True),
    ]
    assert [answer.status_code for answer in answers] == [200, 400, 200]
    # The client gets its answers untouched: redaction is of what is kept.
    logs = [live_stack.log(answer.headers["x-codecosts-log-id"]) for answer in answers]
    assert secrets.anthropic in answers[0].text and secrets.anthropic in answers[1].text
    streamed = "".join(json.loads(line[5:])["delta"]["text"] for line in answers[2].text.splitlines()
                       if line.startswith("data:") and '"text_delta"' in line)
    assert secrets.anthropic in streamed and secrets.anthropic not in answers[2].text  # spelled out

    assert db_scan(secrets.cores) == [], live_stack.process_logs()
    assert files_scan(live_stack.spool_dir, secrets.cores) == []
    # The server's journal is there, and holds these calls.
    assert files_scan(live_stack.spool_dir, [str(log.id) for log in logs])

    ok, error, stream = logs
    for log in logs:
        assert log.user_agent == "attack/1.0 ([REDACTED:openai-key])"
        assert log.person == "bob [REDACTED:aws-access-key-id]"
        assert log.tags == ["deploy", "[REDACTED:openai-key]"]
        assert log.properties == {"token": "Bearer [REDACTED:bearer-token]"}
        assert log.session.name == "aws_secret_access_key=[REDACTED:aws-secret-access-key]"
        request = usage_log_bodies(log).request_body
        assert request["system"] == "Deploy with [REDACTED:anthropic-key]"
        assert request["messages"][2]["content"][0]["content"] == (
            "ANTHROPIC_API_KEY=[REDACTED:anthropic-key]\nOPENAI_API_KEY=[REDACTED:openai-key]\n"
            "LEGACY=[REDACTED:openai-key]\nAUTH=Bearer [REDACTED:bearer-token]\n"
            "AWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id]\nAWS_SECRET_ACCESS_KEY=[REDACTED:aws-secret-access-key]\n"
            "TICKET=[REDACTED]\n[REDACTED:private-key]\n"
        )
    echoed = usage_log_bodies(ok).response_body
    assert echoed["headers"]["x-api-key"] == "[REDACTED:anthropic-key]"
    assert json.loads(echoed["body"])["system"] == "Deploy with [REDACTED:anthropic-key]"
    assert error.status_code == 400 and "[REDACTED:anthropic-key]" in error.error_message
    assert stream.streamed and (stream.input_tokens, stream.output_tokens) == (25, 15)
    assert stream.cost_cents is not None and stream.cost_cents > 0
    text = usage_log_bodies(stream).response_message["content"][0]["text"]
    assert json.loads(text)["headers"]["user-agent"] == "attack/1.0 ([REDACTED:openai-key])"
    assert UsageLogBody.objects.filter(log__in=logs, dropped=False).count() == 3
    assert BodyPiece.objects.filter(organization=organization).exists()  # the pieces were scanned too
    assert usage_log_bodies(ok).request_body["tools"][0]["description"].startswith("Uses [REDACTED:aws-access-key-id]. ")


def test_the_scanner_finds_what_is_stored(live_stack, proxy_endpoint):
    """The scan above cannot pass for want of looking: unredacted text is found, in a
    text column and in a compressed body alike."""
    marker = _core()
    response = httpx.post(
        live_stack.base_url(proxy_endpoint) + "/v1/messages",
        json={"model": "claude-haiku-4-5-20251001", "max_tokens": 8, "messages": [{"role": "user", "content": marker}]},
        headers={"user-agent": f"agent-{marker[:12]}"},
        timeout=30,
    )
    live_stack.log(response.headers["x-codecosts-log-id"])

    hits = db_scan([marker, f"agent-{marker[:12]}"])

    assert any(hit.startswith("usage_usagelogbody.request_body") for hit in hits), hits
    assert any(hit.startswith("usage_usagelog.user_agent") for hit in hits), hits
    assert UsageLog.objects.filter(user_agent=f"agent-{marker[:12]}").exists()
