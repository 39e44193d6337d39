"""usage.redaction: every built-in pattern, in plain text, inside JSON strings and SSE
events, the near misses it leaves alone, an organization's own patterns, and records as
the usage shipper redacts them before they become payloads."""

import json
import re
import uuid

import orjson
import pytest

from accounts.models import Organization
from accounts.validators import redaction_patterns_validate
from tests.db_scan import files_scan
from tests.factories import token_usage, usage_record
from usage import pipeline, redaction
from usage.records import body_raw, record_to_payload
from usage.redaction import facts_redact, redact_bytes, redact_record, redact_text
from usage.spool import Spool

ANTHROPIC = "sk-ant-api03-" + "Zq7" * 31 + "AA"
OPENAI_PROJECT = "sk-proj-" + "Ab1_cD2-" * 20
OPENAI_LEGACY = "sk-" + "T3BlbkFJ" * 6
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_TEMP_KEY_ID = "ASIAY34FZKBOKMUTVV7A"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\nMwIDAQAB\n-----END PRIVATE KEY-----"
RSA_PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"

# (text holding one secret, the secret, its marker)
CASES = [
    (f"my key is {ANTHROPIC}, keep it", ANTHROPIC, "[REDACTED:anthropic-key]"),
    (f"OPENAI_API_KEY={OPENAI_PROJECT}", OPENAI_PROJECT, "[REDACTED:openai-key]"),
    (f"legacy: {OPENAI_LEGACY}.", OPENAI_LEGACY, "[REDACTED:openai-key]"),
    (f"Authorization: Bearer {BEARER}", BEARER, "Bearer [REDACTED:bearer-token]"),
    (f"curl -H 'authorization: bearer {BEARER}'", BEARER, "bearer [REDACTED:bearer-token]"),
    (f"key id {AWS_KEY_ID} in us-east-1", AWS_KEY_ID, "[REDACTED:aws-access-key-id]"),
    (f"temporary {AWS_TEMP_KEY_ID}", AWS_TEMP_KEY_ID, "[REDACTED:aws-access-key-id]"),
    (
        f"[default]\naws_secret_access_key = {AWS_SECRET}\n", AWS_SECRET,
        "aws_secret_access_key = [REDACTED:aws-secret-access-key]",
    ),
    (f"export AWS_SECRET_ACCESS_KEY='{AWS_SECRET}'", AWS_SECRET, "AWS_SECRET_ACCESS_KEY='[REDACTED:aws-secret-access-key]'"),
    (f"id_rsa:\n{PEM}\n", PEM_BODY, "id_rsa:\n[REDACTED:private-key]\n"),
    (RSA_PEM, PEM_BODY, "[REDACTED:private-key]"),
]

NEAR_MISSES = [
    "the task-runner and the disk-cache-invalidation-helper",  # sk- glued to a word
    "pip install sk-learn-and-numpy-and-pandas-notebooks",  # no digit: no key
    "sk-short1",  # too short
    "He was the bearer of bad news; a bearer instrument.",
    "Bearer token goes here",  # no token: too short, no digit
    "AKIA short, ASIA and AKIAZZZZZZZZZZZZZZZZ99 (too long)",
    "aws_secret_access_key = <your secret here>",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
]


@pytest.mark.parametrize("text, secret, marker", CASES)
def test_each_built_in_secret_is_replaced_by_its_marker_in_text(text, secret, marker):
    redacted = redact_text(text)

    assert secret not in redacted
    assert marker in redacted
    assert redact_bytes(text.encode()) == redacted.encode()


@pytest.mark.parametrize("text, secret, marker", CASES)
def test_a_secret_inside_a_json_string_is_redacted_and_the_json_stays_valid(text, secret, marker):
    body = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}).encode()

    redacted = redact_bytes(body)

    assert secret.encode() not in redacted
    assert json.loads(redacted)["messages"][0]["content"][0]["text"] == redact_text(text)


def test_a_secret_at_the_start_of_a_line_of_a_json_string_is_redacted():
    # In JSON the line break before it is the two characters \n: the n is no word.
    body = json.dumps({"content": f".env:\nOPENAI={OPENAI_LEGACY}\n{OPENAI_PROJECT}\n{AWS_KEY_ID}"}).encode()

    redacted = redact_bytes(body)

    assert json.loads(redacted)["content"] == ".env:\nOPENAI=[REDACTED:openai-key]\n[REDACTED:openai-key]\n[REDACTED:aws-access-key-id]"


def test_a_secret_in_an_sse_event_is_redacted_and_each_event_stays_json():
    events = [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"use {ANTHROPIC}"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta",
                                                               "partial_json": json.dumps({"key": PEM})}},
    ]
    stream = b"".join(b"event: content_block_delta\ndata: " + json.dumps(e).encode() + b"\n\n" for e in events)

    redacted = redact_bytes(stream)

    assert ANTHROPIC.encode() not in redacted and PEM_BODY.encode() not in redacted
    data = [json.loads(line[6:]) for line in redacted.splitlines() if line.startswith(b"data: ")]
    assert data[0]["delta"]["text"] == "use [REDACTED:anthropic-key]"
    assert json.loads(data[1]["delta"]["partial_json"]) == {"key": "[REDACTED:private-key]"}


def test_a_private_key_cut_off_by_truncation_is_redacted_from_its_begin_line():
    body = json.dumps({"content": f"key:\n-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n{PEM_BODY[:20]}"})[:-1].encode()

    redacted = redact_bytes(body)

    assert PEM_BODY[:20].encode() not in redacted
    assert redacted == b'{"content": "key:\\n[REDACTED:private-key]"'


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(text):
    assert redact_text(text) == text
    body = json.dumps({"text": text}).encode()
    assert redact_bytes(body) == body


def test_every_secret_of_a_body_is_redacted_at_once():
    body = json.dumps({"parts": [text for text, _, _ in CASES] + NEAR_MISSES}).encode()

    redacted = redact_bytes(body)

    for _, secret, _ in CASES:
        assert secret.encode() not in redacted
    assert json.loads(redacted)["parts"][len(CASES):] == NEAR_MISSES


# --- An organization's patterns ------------------------------------------------------


def rules(*patterns):
    return tuple(re.compile(p) for p in patterns)


def test_an_organization_pattern_is_replaced_by_the_plain_marker():
    body = json.dumps({"text": "ticket ACME-123456 and ACME-654321, not ACME-12"}).encode()

    redacted = redact_bytes(body, rules(r"ACME-\d{6}"))

    assert json.loads(redacted) == {"text": "ticket [REDACTED] and [REDACTED], not ACME-12"}


def test_an_organization_match_stops_at_the_json_string_it_is_in():
    body = json.dumps({"a": "password=hunter2 and more", "b": "x"}).encode()

    redacted = redact_bytes(body, rules(r"password=.*"))

    assert json.loads(redacted) == {"a": "[REDACTED]", "b": "x"}


def test_an_organization_match_never_leaves_half_an_escape():
    body = json.dumps({"a": 'say "hunter2" then\nnext', "b": "café"}, ensure_ascii=True).encode()

    for pattern in (r"hunter2\\", r"n?next", r"00e9", r"\\u00"):
        redacted = redact_bytes(body, rules(pattern))
        assert json.loads(redacted)["b"].startswith("caf"), (pattern, redacted)  # still JSON


def test_one_organization_match_replaces_at_most_user_match_max_characters():
    body = json.dumps({"text": "secret:" + "x" * 10_000}).encode()

    redacted = json.loads(redact_bytes(body, rules(r"secret:x*")))["text"]

    assert redacted == "[REDACTED]" + "x" * (10_000 + len("secret:") - redaction.USER_MATCH_MAX)


def test_organization_patterns_apply_to_non_ascii_text_as_written():
    body = "{\"text\": \"Geheimnis: Grüße-42, ünchanged\"}".encode()

    assert redact_bytes(body, rules(r"Grüße-\d+")) == "{\"text\": \"Geheimnis: [REDACTED], ünchanged\"}".encode()


@pytest.mark.parametrize(
    "patterns, message",
    [
        ([r"(a+)+b"], "repeats a repetition"),
        ([r"(?:\w+\s?)*="], "repeats a repetition"),
        ([r"ab("], "is not a regular expression"),
        ([r"x*"], "matches an empty text"),
        (["ok"] * 21, "At most 20"),
    ],
)
def test_a_dangerous_or_broken_pattern_is_refused_with_a_clear_message(patterns, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        redaction_patterns_validate(patterns)
    assert message in " ".join(refused.value.messages)


def test_useful_patterns_are_accepted():
    redaction_patterns_validate([r"ghp_[A-Za-z0-9]{36}", r"ACME-\d{6}", r"password=\S+", r"(ab){2}c+"])


# --- Records ------------------------------------------------------------------------


@pytest.fixture
def organization(db):
    redaction.organization_rules_forget()
    organization = Organization.objects.create(name="Redacted", redaction_patterns=[r"ACME-\d{6}"])
    yield organization
    redaction.organization_rules_forget()


def secret_record(organization, **overrides):
    request = json.dumps({"model": "claude-sonnet-4-6", "messages": [
        {"role": "user", "content": f"{ANTHROPIC} and ACME-123456"}]}).encode()
    # The key straddles two chunks, as a stream cuts it.
    response = json.dumps({"content": [{"type": "text", "text": f"ok {OPENAI_PROJECT}"}]}).encode()
    cut = response.index(b"sk-proj-") + 10
    values = dict(
        organization_id=str(organization.id),
        request_body=request,
        response_body=[response[:cut], response[cut:]],
        user_agent=f"my-script/1.0 (key {ANTHROPIC})",
        session_name=f"deploy {AWS_KEY_ID}",
        attribution={"x-codecosts-user": "ACME-654321", f"x-codecosts-property-{OPENAI_LEGACY}": f"Bearer {BEARER}"},
        usage=token_usage(error_message=f"invalid x-api-key {ANTHROPIC}"),
    )
    return usage_record(**{**values, **overrides})


def test_a_record_is_redacted_everywhere_the_shipper_would_send_it(organization):
    record = redact_record(secret_record(organization))

    payload = orjson.dumps(record_to_payload(record))
    for secret in (ANTHROPIC, OPENAI_PROJECT, OPENAI_LEGACY, AWS_KEY_ID, BEARER, "ACME-123456", "ACME-654321"):
        assert secret.encode() not in payload
        assert secret.encode() not in body_raw(record.request_body) + body_raw(record.response_body)
    assert json.loads(body_raw(record.request_body))["messages"][0]["content"] == "[REDACTED:anthropic-key] and [REDACTED]"
    assert json.loads(body_raw(record.response_body))["content"][0]["text"] == "ok [REDACTED:openai-key]"
    assert record.user_agent == "my-script/1.0 (key [REDACTED:anthropic-key])"
    assert record.session_name == "deploy [REDACTED:aws-access-key-id]"
    assert record.attribution == {
        "x-codecosts-user": "[REDACTED]",
        "x-codecosts-property-[REDACTED:openai-key]": "Bearer [REDACTED:bearer-token]",
    }
    assert record.usage.error_message == "invalid x-api-key [REDACTED:anthropic-key]"
    assert not record.bodies_dropped


def test_a_pattern_change_takes_effect_within_the_cache_time(organization, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(redaction.time, "monotonic", lambda: clock[0])
    assert redaction.organization_rules(str(organization.id))[0].pattern == r"ACME-\d{6}"

    Organization.objects.filter(id=organization.id).update(redaction_patterns=[r"GLOBEX-\d+"])
    assert redaction.organization_rules(str(organization.id))[0].pattern == r"ACME-\d{6}"  # cached
    clock[0] += redaction.RULES_CACHE_SECONDS + 0.1
    assert redaction.organization_rules(str(organization.id))[0].pattern == r"GLOBEX-\d+"


def test_unreadable_patterns_of_an_organization_never_read_leave_the_bodies_out(organization, monkeypatch):
    def unreachable(organization_id):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(redaction, "_patterns_read", unreachable)

    record = redact_record(secret_record(organization))

    assert (record.request_body, record.response_body, record.bodies_dropped) == (b"", b"", True)
    assert ANTHROPIC not in record.user_agent  # the built-in patterns still apply


def test_an_unreachable_database_is_asked_once_per_cache_time_not_once_per_record(organization, monkeypatch, caplog):
    """During an outage the shipper must not spend every record on a connection attempt."""
    clock, attempts = [1000.0], []
    monkeypatch.setattr(redaction.time, "monotonic", lambda: clock[0])

    def unreachable(organization_id):
        attempts.append(clock[0])
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(redaction, "_patterns_read", unreachable)
    for _ in range(50):
        assert redact_record(secret_record(organization)).bodies_dropped
    assert len(attempts) == 1 and caplog.text.count("unreadable") == 1

    clock[0] += redaction.RULES_CACHE_SECONDS + 0.1
    monkeypatch.setattr(redaction, "_patterns_read", lambda organization_id: [r"ACME-\d{6}"])
    record = redact_record(secret_record(organization))
    assert not record.bodies_dropped and b"ACME-123456" not in body_raw(record.request_body)


def test_unreadable_patterns_use_the_last_ones_read(organization, monkeypatch):
    redaction.organization_rules(str(organization.id))
    monkeypatch.setattr(redaction, "RULES_CACHE_SECONDS", 0.0)
    monkeypatch.setattr(redaction, "_patterns_read", lambda organization_id: 1 / 0)

    record = redact_record(secret_record(organization))

    assert b"ACME-123456" not in body_raw(record.request_body) and not record.bodies_dropped


def test_a_record_that_cannot_be_redacted_goes_without_bodies_or_header_values(organization):
    record = secret_record(organization, request_body="text, not bytes")

    record = redact_record(record)

    assert (record.request_body, record.response_body, record.bodies_dropped) == (b"", b"", True)
    assert (record.user_agent, record.session_name, record.attribution) == ("", "", {})


def test_facts_redact_uses_the_organization_patterns_it_is_given():
    facts = {
        "user_agent": "claude-cli/2.1.0 (external, cli)", "session_name": f"fix {AWS_KEY_ID}",
        "claude_code_session_id": str(uuid.uuid4()), "attribution": {"x-codecosts-tags": "ACME-123456,prod"},
    }
    facts_redact(facts)
    assert facts["session_name"] == "fix [REDACTED:aws-access-key-id]"
    assert facts["attribution"] == {"x-codecosts-tags": "ACME-123456,prod"}  # no patterns given

    facts_redact(facts, rules(r"ACME-\d{6}"))
    assert facts["attribution"] == {"x-codecosts-tags": "[REDACTED],prod"}


# --- The shipper: what it spools and dead-letters ------------------------------------


def test_neither_the_spool_nor_a_dead_letter_holds_a_secret(organization, tmp_path, monkeypatch):
    spool = Spool(tmp_path / "spool")
    shipper = pipeline.Shipper(spool)
    record = secret_record(organization)

    payloads = shipper.payloads([record])
    shipper.keep(payloads)  # the broker is down: on disk
    monkeypatch.setattr(pipeline, "deliver", lambda batch: (_ for _ in ()).throw(ValueError("refused")))
    shipper.send([payloads[0]])  # refused even without bodies: a dead letter

    assert spool.has_pending() and list((tmp_path / "spool").glob("dead-*"))
    secrets = (ANTHROPIC, OPENAI_PROJECT, OPENAI_LEGACY, AWS_KEY_ID, BEARER, "ACME-123456", "ACME-654321")
    assert files_scan(tmp_path / "spool", secrets) == []
    # The scanner does see through the spool's base64 and zlib: the redacted text is there.
    assert files_scan(tmp_path / "spool", ["[REDACTED:anthropic-key] and [REDACTED]"]) != []


def journal_of(tmp_path) -> str:
    (journal,) = (tmp_path / "spool").glob("journal-*.jsonl")
    return journal.read_text()


def test_the_journal_gets_the_header_values_redacted_and_the_record_too(settings, tmp_path, monkeypatch):
    settings.USAGE_SPOOL_DIR = tmp_path / "spool"
    monkeypatch.setattr(pipeline, "deliver", lambda payloads: None)
    record = usage_record(user_agent=f"tool {ANTHROPIC}", attribution={"x-codecosts-tags": f"a,{AWS_KEY_ID}"})
    # This process has read the organization's patterns (none).
    monkeypatch.setitem(redaction._rules, record.organization_id, (float("inf"), ()))
    facts = {name: getattr(record, name) for name in (
        "id", "organization_id", "endpoint_id", "endpoint_slug", "provider", "path", "started_at",
        "user_agent", "session_name", "claude_code_session_id", "attribution")}
    try:
        pipeline.started(record.id, facts)  # as proxy.exchange does, on the event loop
        record.user_agent, record.attribution = facts["user_agent"], facts["attribution"]
        record.usage.error_message = f"bad key {OPENAI_PROJECT}"
        pipeline.record(record)

        assert facts["user_agent"] == "tool [REDACTED:anthropic-key]"
        assert facts["attribution"] == {"x-codecosts-tags": "a,[REDACTED:aws-access-key-id]"}
        assert record.usage.error_message == "bad key [REDACTED:openai-key]"
        assert journal_of(tmp_path).count("tool [REDACTED:anthropic-key]") == 2  # its start and its end
        assert files_scan(tmp_path / "spool", [ANTHROPIC, AWS_KEY_ID, OPENAI_PROJECT]) == []
    finally:
        pipeline.shutdown()


# --- Streams: a secret spelled out across events ---------------------------------------


def sse(events: list[dict], newline: bytes = b"\n") -> bytes:
    return b"".join(b"event: x" + newline + b"data: " + json.dumps(e).encode() + newline + newline for e in events)


def pieces(text: str, size: int = 5) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def data_of(stream: bytes) -> list[dict]:
    return [json.loads(line[5:]) for line in stream.splitlines() if line.startswith(b"data:")]


def test_a_key_an_anthropic_stream_sends_across_text_deltas_is_redacted():
    text = f"Your key: {ANTHROPIC} and {OPENAI_PROJECT}."
    stream = sse([{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
                  for p in pieces(text)])

    redacted = redaction.stream_redact(redact_bytes(stream))

    joined = "".join(e["delta"]["text"] for e in data_of(redacted))
    assert joined == "Your key: [REDACTED:anthropic-key] and [REDACTED:openai-key]."
    assert ANTHROPIC[13:30].encode() not in redacted
    assert data_of(redacted)[0] == data_of(stream)[0]  # the events before it stay as they came


def test_secrets_across_openai_chat_and_responses_deltas_and_tool_arguments_are_redacted():
    chat = sse([{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces(f"k={AWS_KEY_ID}!")])
    arguments = json.dumps({"token": f"Bearer {BEARER}"})
    tool = sse([{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}}]}
                for p in pieces(arguments, 3)])
    responses = sse([{"type": "response.output_text.delta", "item_id": "msg_1", "content_index": 0, "delta": p}
                     for p in pieces(f"use {OPENAI_LEGACY} now")])

    chat_text = "".join(e["choices"][0]["delta"]["content"] for e in data_of(redaction.stream_redact(chat)))
    tool_text = "".join(e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                        for e in data_of(redaction.stream_redact(tool)))
    responses_text = "".join(e["delta"] for e in data_of(redaction.stream_redact(responses)))

    assert chat_text == "k=[REDACTED:aws-access-key-id]!"
    assert json.loads(tool_text) == {"token": "Bearer [REDACTED:bearer-token]"}
    assert responses_text == "use [REDACTED:openai-key] now"


def test_an_organization_pattern_across_deltas_is_redacted_and_crlf_streams_keep_their_line_ends():
    stream = sse([{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
                  for p in ("ticket ACME-1", "23", "456 done")], newline=b"\r\n")

    redacted = redaction.stream_redact(stream, rules(r"ACME-\d{6}"))

    assert "".join(e["delta"]["text"] for e in data_of(redacted)) == "ticket [REDACTED] done"
    assert redacted.count(b"\r\n") == stream.count(b"\r\n")


def test_a_stream_without_a_spanning_secret_is_left_byte_for_byte():
    stream = sse([{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
                  for p in pieces("the task-runner and the bearer of news " * 20)])

    assert redaction.stream_redact(stream) is stream
    assert redaction.stream_redact(stream, rules(r"ACME-\d{6}")) is stream


def test_a_streamed_record_is_redacted_across_its_events(organization):
    text = f"here: {ANTHROPIC}"
    stream = sse([{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
                  for p in pieces(text, 4)])
    cut = len(stream) // 2

    record = redact_record(secret_record(organization, streamed=True, response_content_type="text/event-stream",
                                         response_body=[stream[:cut], stream[cut:]]))

    assert "".join(e["delta"]["text"] for e in data_of(body_raw(record.response_body))) == "here: [REDACTED:anthropic-key]"


def test_before_the_organizations_patterns_are_read_the_journal_gets_no_header_value(settings, tmp_path, monkeypatch):
    settings.USAGE_SPOOL_DIR = tmp_path / "spool"
    monkeypatch.setattr(pipeline, "deliver", lambda payloads: None)
    record = usage_record(user_agent="tool ACME-123456", attribution={"x-codecosts-user": "ACME-654321"})
    facts = {name: getattr(record, name) for name in (
        "id", "organization_id", "endpoint_id", "endpoint_slug", "provider", "path", "started_at",
        "user_agent", "session_name", "claude_code_session_id", "attribution")}
    try:
        pipeline.started(record.id, facts)
        record.usage.error_message = "refused ACME-111111"
        pipeline.record(record)

        journal = journal_of(tmp_path)
        assert record.id in journal and "ACME-" not in journal
        # The record keeps them: the shipper redacts it with the patterns it reads.
        assert (facts["user_agent"], record.usage.error_message) == ("tool ACME-123456", "refused ACME-111111")
    finally:
        pipeline.shutdown()


# --- Setting them: the organization API and the Settings page ---------------------------


def test_a_catastrophic_pattern_is_refused_by_the_organization_api_with_its_reason(api_client, org):
    response = api_client.patch("/api/organization", {"redaction_patterns": ["ok", "(a+)+b"]})

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["redaction_patterns"] == [
        "Pattern 2 ('(a+)+b') repeats a repetition (such as (a+)+), which can take exponential time."
    ]
    org.refresh_from_db()
    assert org.redaction_patterns == []


def test_the_settings_form_tells_a_catastrophic_pattern(owner, org):
    from django.test import Client

    client = Client()
    client.force_login(owner)

    response = client.post("/settings/retention", {
        "body_retention_days": "30", "usage_retention_days": "", "redaction_patterns": "(x+)*y",
    })

    assert "repeats a repetition (such as (a+)+)" in response.content.decode()
    org.refresh_from_db()
    assert org.redaction_patterns == []


def test_a_pattern_saved_through_the_api_applies_at_once_in_this_process(
    api_client, org, django_capture_on_commit_callbacks
):
    redaction.organization_rules_forget()
    assert redaction.organization_rules(str(org.id)) == ()  # read, and kept for a while

    with django_capture_on_commit_callbacks(execute=True):  # the signal goes once the change commits
        assert api_client.patch("/api/organization", {"redaction_patterns": [r"ACME-\d{6}"]}).status_code == 200

    assert [rule.pattern for rule in redaction.organization_rules(str(org.id))] == [r"ACME-\d{6}"]
