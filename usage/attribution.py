"""Who and what made a call: its person, Claude Code agent, request class, tags and properties.

The proxy only picks the headers out as they go by (`proxy.headers`: a dictionary
lookup); they are read, validated and capped here, in the worker. Attribution never fails
a call: a value too long is cut, one with characters it may not hold is left out, and
each such decision is told in the log's `attribution_warnings`.

The person is, strongest first: the Codecosts key the call came with (its name: a key
holder cannot spend under someone else's name, which person budgets rely on), the
`x-codecosts-user` header, then the request body (Claude Code's `metadata.user_id`, as
its account or device; another client's `metadata.user_id`; OpenAI's
`safety_identifier` or `user`).
"""

import re
from dataclasses import dataclass, field

from providers.requests import RequestInfo, claude_code_person
from usage.models import PersonSource
from usage.records import CONTROL_CHARACTERS, PERSON_MAX, header_text

USER_HEADER = "x-codecosts-user"
TAGS_HEADER = "x-codecosts-tags"
PROPERTY_PREFIX = "x-codecosts-property-"
AGENT_ID_HEADER = "x-claude-code-agent-id"
PARENT_AGENT_ID_HEADER = "x-claude-code-parent-agent-id"
REQUEST_CLASS_HEADER = "x-claude-code-request-class"
AGENT_TYPE_HEADER = "x-claude-code-agent-type"
# Acted on by the proxy (proxy.exchange); a value it ignored is told here.
OMIT_HEADER = "x-codecosts-omit"
OMIT_VALUES = ("request", "response", "all")

TAG_MAX = 64
TAGS_MAX = 10
PROPERTY_NAME_MAX = 64
PROPERTY_VALUE_MAX = 200
PROPERTIES_MAX = 20
AGENT_ID_MAX = 64
REQUEST_CLASS_MAX = 32
AGENT_TYPE_MAX = 64
WARNINGS_MAX = 10

# Claude Code's request classes (x-claude-code-request-class, with
# CLAUDE_CODE_GATEWAY_HINT_HEADERS=1); another value is kept as sent if it is a name.
REQUEST_CLASSES = ("main", "subagent", "workflow", "compaction", "auxiliary")

_CONTROL = CONTROL_CHARACTERS
# Claude Code percent-encodes '%' and anything outside printable ASCII in its agent ids.
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:%@-]+")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(slots=True)
class Attribution:
    person: str = ""
    person_source: str = ""
    agent_id: str = ""
    parent_agent_id: str = ""
    request_class: str = ""
    agent_type: str = ""
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def attribution_resolve(
    *, headers: dict[str, str], request: RequestInfo, key_name: str | None, user_agent: str = ""
) -> Attribution:
    """The call's attribution from the headers the proxy saw (name → value as received),
    what its body says and the name of the Codecosts key it came with (None: no key)."""
    found = Attribution()
    warn = found.warnings.append
    # The same value budgets match on the hot path (usage.records.person_from_header).
    user = _text(headers.get(USER_HEADER), USER_HEADER, PERSON_MAX, warn)
    body_person = claude_code_person(request.metadata_user_id) or request.metadata_user_id or request.end_user
    if key_name is not None:
        found.person, found.person_source = _text(key_name, "the key's name", PERSON_MAX, warn), PersonSource.KEY
        if user:
            warn(f"{USER_HEADER} ignored: the call's Codecosts key names its person")
    elif user:
        found.person, found.person_source = user, PersonSource.HEADER
    elif body_person:
        found.person = _text(body_person, "the request body's user id", PERSON_MAX, warn)
        found.person_source = PersonSource.BODY if found.person else ""

    found.agent_id = _identifier(headers.get(AGENT_ID_HEADER), AGENT_ID_HEADER, warn)
    found.parent_agent_id = _identifier(headers.get(PARENT_AGENT_ID_HEADER), PARENT_AGENT_ID_HEADER, warn)
    request_class = (headers.get(REQUEST_CLASS_HEADER) or "").strip().lower()
    if request_class and (len(request_class) > REQUEST_CLASS_MAX or not _NAME.fullmatch(request_class)):
        warn(f"{REQUEST_CLASS_HEADER} left out: not a name of at most {REQUEST_CLASS_MAX} letters, digits, - and _")
        request_class = ""
    if not request_class and found.agent_id:
        request_class = "subagent"  # Claude Code sends an agent id on subagent calls only
    elif not request_class and user_agent.startswith("claude-cli/"):
        request_class = "main"
    found.request_class = request_class
    found.agent_type = _text(headers.get(AGENT_TYPE_HEADER), AGENT_TYPE_HEADER, AGENT_TYPE_MAX, warn)
    found.tags = _tags(headers.get(TAGS_HEADER), warn)
    found.properties = _properties(headers, warn)
    omit = (headers.get(OMIT_HEADER) or "").strip()
    if omit and omit.lower() not in OMIT_VALUES:
        shown = _CONTROL.sub("?", omit[:32])
        warn(f"{OMIT_HEADER} ignored: '{shown}' is not request, response or all (the endpoint's store_bodies applies)")
    if len(found.warnings) > WARNINGS_MAX:
        more = len(found.warnings) - WARNINGS_MAX
        found.warnings[WARNINGS_MAX:] = [f"and {more} more"]
    return found


def _text(value: str | None, what: str, limit: int, warn) -> str:
    """A header's text, stripped; "" (told) when it holds control characters; cut (told)
    beyond `limit` characters."""
    if not value:
        return ""
    value = header_text(value).strip()
    if _CONTROL.search(value):
        warn(f"{what} left out: control characters")
        return ""
    if len(value) > limit:
        warn(f"{what} cut to {limit} characters (was {len(value)})")
        value = value[:limit].rstrip()
    return value


def _identifier(value: str | None, what: str, warn) -> str:
    if not value:
        return ""
    value = value.strip()
    if len(value) > AGENT_ID_MAX or not _IDENTIFIER.fullmatch(value):
        warn(f"{what} left out: not an id of at most {AGENT_ID_MAX} letters, digits and ._:%@-")
        return ""
    return value


def _tags(value: str | None, warn) -> list[str]:
    if not value:
        return []
    tags = []
    for raw in value.split(","):
        tag = _text(raw, f"tag '{_CONTROL.sub('?', raw.strip()[:TAG_MAX])}'", TAG_MAX, warn)
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        warn(f"{TAGS_HEADER}: {len(tags)} tags, the first {TAGS_MAX} kept")
        tags = tags[:TAGS_MAX]
    return tags


def _properties(headers: dict[str, str], warn) -> dict[str, str]:
    properties = {}
    extra = 0
    for header, raw in headers.items():
        if not header.startswith(PROPERTY_PREFIX):
            continue
        name = header[len(PROPERTY_PREFIX):]
        if not name or len(name) > PROPERTY_NAME_MAX or not _NAME.fullmatch(name):
            warn(f"{header[:PROPERTY_NAME_MAX + len(PROPERTY_PREFIX)]} left out: the name must be "
                 f"at most {PROPERTY_NAME_MAX} letters, digits, - and _")
            continue
        if len(properties) >= PROPERTIES_MAX:
            extra += 1
            continue
        value = _text(raw, header, PROPERTY_VALUE_MAX, warn)
        if value:
            properties[name] = value
    if extra:
        warn(f"x-codecosts-property-*: {PROPERTIES_MAX + extra} properties, the first {PROPERTIES_MAX} kept")
    return properties
