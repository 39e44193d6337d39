"""Who made a call, read from its headers and body (usage.attribution): pure functions."""

import json

import pytest

from providers.requests import claude_code_person, request_info
from usage.attribution import attribution_resolve

DEVICE = "4efcb216b13a462c267f6ff0ca2abf48e99b0b8773215a0f8407e619bd8acb39"
ACCOUNT = "0b4ad6c1-62c6-4b8e-9a3b-1f5ad0f1c9e2"
SESSION = "0ce9b2d6-e137-4494-906d-2700ccbd068b"


def resolve(headers=None, body=None, key_name=None, user_agent=""):
    request = request_info(json.dumps(body).encode()) if body is not None else request_info(b"")
    return attribution_resolve(headers=headers or {}, request=request, key_name=key_name, user_agent=user_agent)


@pytest.mark.parametrize(
    "user_id, person",
    [
        # Claude Code 2.1.78+: a JSON string.
        (json.dumps({"device_id": DEVICE, "account_uuid": "", "session_id": SESSION}), f"device:{DEVICE}"),
        (json.dumps({"device_id": DEVICE, "account_uuid": ACCOUNT, "session_id": SESSION}), f"account:{ACCOUNT}"),
        # Earlier versions.
        (f"user_{DEVICE}_account__session_{SESSION}", f"device:{DEVICE}"),
        (f"user_{DEVICE}_account_{ACCOUNT}_session_{SESSION}", f"account:{ACCOUNT}"),
        # Not Claude Code's forms.
        ("alice@example.com", ""),
        ("{not json", ""),
        ("", ""),
    ],
)
def test_claude_codes_user_id_names_its_account_or_device(user_id, person):
    assert claude_code_person(user_id) == person


def test_the_key_beats_the_header_which_beats_the_body():
    body = {"metadata": {"user_id": json.dumps({"device_id": DEVICE, "account_uuid": ACCOUNT})}}
    both = resolve({"x-codecosts-user": "bob"}, body, key_name="alice-laptop")
    assert (both.person, both.person_source) == ("alice-laptop", "key")
    assert both.warnings == ["x-codecosts-user ignored: the call's Codecosts key names its person"]
    header = resolve({"x-codecosts-user": " bob "}, body)
    assert (header.person, header.person_source, header.warnings) == ("bob", "header", [])
    account = resolve({}, body)
    assert (account.person, account.person_source) == (f"account:{ACCOUNT}", "body")


def test_another_clients_user_ids_name_the_person():
    assert resolve(body={"metadata": {"user_id": "u-42"}}).person == "u-42"
    openai = resolve(body={"model": "gpt-5", "safety_identifier": "hash-9", "user": "old"})
    assert (openai.person, openai.person_source) == ("hash-9", "body")
    assert resolve(body={"model": "gpt-5", "user": "old"}).person == "old"
    assert (resolve().person, resolve().person_source) == ("", "")


def test_request_class_is_sent_or_told_from_the_agent_id_and_user_agent():
    assert resolve({"x-claude-code-request-class": "Compaction"}).request_class == "compaction"
    assert resolve({"x-claude-code-agent-id": "a1b2"}).request_class == "subagent"
    assert resolve(user_agent="claude-cli/2.1.197 (external, sdk-cli)").request_class == "main"
    assert resolve(user_agent="Anthropic/Python 2.12.0").request_class == ""
    refused = resolve({"x-claude-code-request-class": "main call"})
    assert refused.request_class == ""
    assert refused.warnings == [
        "x-claude-code-request-class left out: not a name of at most 32 letters, digits, - and _"
    ]


def test_tags_are_split_trimmed_deduplicated_and_capped():
    found = resolve({"x-codecosts-tags": " a, b ,a,,c d," + ",".join(f"x{n}" for n in range(20))})
    assert found.tags == ["a", "b", "c d", *(f"x{n}" for n in range(7))]
    assert found.warnings == ["x-codecosts-tags: 23 tags, the first 10 kept"]
    assert resolve({"x-codecosts-tags": "t" * 65}).warnings == ["tag '" + "t" * 64 + "' cut to 64 characters (was 65)"]


def test_properties_names_must_be_names_and_values_are_capped():
    found = resolve(
        {
            "x-codecosts-property-repo": "web",
            "x-codecosts-property-Bad.Name": "x",
            "x-codecosts-property-": "x",
            "x-codecosts-property-ticket": "T" * 250,
            "x-codecosts-property-empty": "  ",
        }
    )
    assert found.properties == {"repo": "web", "ticket": "T" * 200}
    assert found.warnings == [
        "x-codecosts-property-Bad.Name left out: the name must be at most 64 letters, digits, - and _",
        "x-codecosts-property- left out: the name must be at most 64 letters, digits, - and _",
        "x-codecosts-property-ticket cut to 200 characters (was 250)",
    ]


def test_a_utf8_value_given_as_latin_1_is_read_as_utf8():
    sent = "José".encode().decode("latin-1")  # how ASGI hands over the header's bytes
    assert resolve({"x-codecosts-user": sent}).person == "José"
    assert resolve({"x-codecosts-user": "caf\xe9"}).person == "caf\xe9"  # not UTF-8: kept


def test_warnings_are_bounded():
    headers = {f"x-codecosts-property-Bad{n}": "x" for n in range(50)}
    found = resolve(headers)
    assert len(found.warnings) == 11
    assert found.warnings[-1] == "and 40 more"
