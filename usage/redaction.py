"""Secrets out of everything Codecosts keeps: request, response and error bodies, and the
header values kept for display (user agent, session name, attribution headers).

One module on purpose: the patterns, the two ways they are applied (bytes and header
values, kept in step) and the organizations' patterns are read and changed together.

Built-in patterns (provider keys, bearer tokens, AWS keys, private-key blocks) become
`[REDACTED:<kind>]`; an organization's own patterns (Organization.redaction_patterns)
become `[REDACTED]`. Markers hold no quote and no backslash, and no match crosses a JSON
string's end, so a JSON body (or an SSE stream of JSON events) stays JSON.

Where (docs/architecture.md):
- the usage shipper thread (`usage.pipeline.Shipper.payloads`) calls `redact_record` on
  each record before it becomes a payload: neither the broker, nor the spool, nor a dead
  letter ever holds a secret. Off the event loop; it may read the database.
- `usage.pipeline.started` and `.record` (the proxy, on the event loop) redact the few
  header values and the error message the journal writes (usage.journal) and the record
  keeps: a dictionary lookup per value once seen clean, about a microsecond a call
  (benchmarks/redaction.py), with the organization's patterns as this process holds
  them (`organization_rules_cached`: a dictionary lookup); while it holds none yet, the
  journal gets no header value (`journalled_facts`, `journalled_record`).

Speed: every built-in pattern runs only when a cheap substring test finds its prefix in
the data (`b"sk-" in data`); a 300 KB Claude Code body holding none costs a handful of
memchr scans. Organization patterns run on every body (their text is unknown); each is
read from the database at most every RULES_CACHE_SECONDS per process, so a change takes
effect within that time everywhere (at once in the process that made it: usage.receivers
follows accounts' organization_changed). Patterns are validated when saved (accounts.validators:
no nested repetition, which could take exponential time) and one match replaces at most
USER_MATCH_MAX characters.
"""

import bisect
import itertools
import logging
import re
import threading
import time
from dataclasses import dataclass, fields, replace

import orjson

from providers.tokens import TokenUsage
from usage.records import UsageRecord, body_raw

logger = logging.getLogger("codecosts.usage")

MARKER = "[REDACTED]"
# One organization pattern's match replaces at most this many characters (a pattern such
# as `secret.*` would otherwise swallow the rest of a 300 KB body).
USER_MATCH_MAX = 4096
RULES_CACHE_SECONDS = 5.0

# A key's characters. Each pattern begins with its literal prefix, which the regular
# expression engine finds by a fast search (a pattern beginning with a lookbehind took
# 16 ms per 300 KB body instead of 0.3); that a key is not glued to a word before it
# ("task-…" is no key) is checked by a lookbehind right after the prefix, where a JSON
# \n or \t escape before it counts as a line break.
_TOKEN = rb"[A-Za-z0-9_-]"
_PEM_CHARS = rb"(?:[A-Za-z0-9+/= \t\r\n:,.-]|\\+[nrt])"
_PEM_BEGIN = rb"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY-----"


def _alone(prefix: bytes, before: bytes) -> bytes:
    """After `prefix` (a pattern): it is not glued to a character of `before` (a JSON escape aside)."""
    return rb"(?:(?<![%s]%s)|(?<=\\[nrt]%s))" % (before, prefix, prefix)


@dataclass(frozen=True, slots=True)
class Rule:
    """One built-in pattern. Group 1, when it has one, stays before the marker ("Bearer
    [REDACTED:bearer-token]"). `back`: how far before its group's needle a match begins
    (the needle "earer" is 1 into "Bearer")."""

    name: str
    pattern: re.Pattern
    text_pattern: re.Pattern
    replacement: bytes
    text_replacement: str
    back: int = 0


def _rule(name: str, pattern: bytes, *, keep_prefix: bool = False, back: int = 0) -> Rule:
    marker = f"[REDACTED:{name}]".encode()
    replacement = (rb"\1" + marker) if keep_prefix else marker
    return Rule(
        name=name,
        pattern=re.compile(pattern),
        text_pattern=re.compile(pattern.decode("ascii")),
        replacement=replacement,
        text_replacement=replacement.decode("ascii"),
        back=back,
    )


@dataclass(frozen=True, slots=True)
class Group:
    """Rules that run only where `needle` is in the data (found by a fast search: on
    300 KB, 75 µs for PRIVATE KEY-----, 260 for sk-). Anchored: a rule is tried only at
    each occurrence of the needle (Claude Code's prompt says "task-" and "clearer": a
    whole-body search per rule would cost that much again each). Else, or with no
    needle, each rule searches the whole data."""

    needle: bytes | None
    rules: tuple[Rule, ...]
    anchored: bool = False
    text_needles: tuple[str, ...] = ()


# The order matters: a private key first (its base64 may hold anything), Anthropic's
# keys before OpenAI's generic sk- ones, bearer tokens after the keys they often carry.
BUILTIN: tuple[Group, ...] = (
    Group(b"PRIVATE KEY-----", (
        # A whole block, its line breaks raw or as JSON escapes; then a block cut short
        # (a truncated body) from its BEGIN line to the end of its base64.
        _rule("private-key", _PEM_BEGIN + _PEM_CHARS + rb"{0,16384}?-----END[A-Z0-9 ]{0,40} PRIVATE KEY-----"),
        _rule("private-key", _PEM_BEGIN + _PEM_CHARS + rb"{0,16384}"),
    )),
    Group(b"sk-", (
        # sk-ant-api03-…, sk-ant-admin01-…, sk-ant-oat01-…
        _rule("anthropic-key", rb"sk-ant-" + _TOKEN + rb"{20,400}"),
        # sk-proj-…, sk-svcacct-…, sk-admin-… and the older sk-<48>: with a digit
        # somewhere (a random key has some), so that "sk-learn-and-numpy-notebooks" is none.
        _rule("openai-key", rb"sk-" + _alone(rb"sk-", rb"A-Za-z0-9") + rb"(?!ant-)(?=[A-Za-z_-]{0,400}[0-9])"
              + _TOKEN + rb"{20,400}"),
    ), anchored=True),
    # Authorization: Bearer <token>: 16 characters with a digit, or 32 without one ("the
    # bearer instrument" is no token). The word stays before the marker.
    Group(b"earer", tuple(
        _rule(
            "bearer-token",
            rb"(" + word + _alone(word, rb"A-Za-z") + rb"[ \t]+)"
            rb"(?:(?=[A-Za-z._~+/=-]{0,4096}[0-9])[A-Za-z0-9._~+/=-]{16,4096}|[A-Za-z0-9._~+/=-]{32,4096})",
            keep_prefix=True, back=1,
        )
        for word in (rb"Bearer", rb"bearer")
    ), anchored=True),
    # AKIA… (an IAM user's key id), ASIA… (a temporary one): its own search is as fast as
    # a needle's would be.
    Group(None, (
        _rule("aws-access-key-id", rb"A[KS]IA" + _alone(rb"A[KS]IA", rb"A-Z0-9") + rb"[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ), text_needles=("AKIA", "ASIA")),
    # aws_secret_access_key = …, AWS_SECRET_ACCESS_KEY=…, "aws_secret_access_key": "…";
    # the name stays before the marker.
    *(
        Group(needle, (
            _rule(
                "aws-secret-access-key",
                rb"(" + name + rb"(?:\\?[\"'])?[ \t]*[=:][ \t]*(?:\\?[\"'])?)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
                keep_prefix=True, back=len(b"aws_secret"),
            ),
        ), anchored=True)
        for name, needle in ((rb"aws_secret_access_key", b"_access_key"), (rb"AWS_SECRET_ACCESS_KEY", b"_ACCESS_KEY"))
    ),
)
_TEXT_NEEDLES = tuple(group.text_needles or (group.needle.decode("ascii"),) for group in BUILTIN)
BUILTIN_NAMES = tuple(dict.fromkeys(rule.name for group in BUILTIN for rule in group.rules))


def redact_bytes(data: bytes, rules: tuple[re.Pattern, ...] = ()) -> bytes:
    """`data` with every built-in secret, then every match of `rules` (an organization's
    compiled patterns), replaced by a marker."""
    for group in BUILTIN:
        if group.anchored:
            data = _anchored_sub(data, group)  # its first find is the needle's test
        elif group.needle is None or group.needle in data:
            for rule in group.rules:
                data = rule.pattern.sub(rule.replacement, data)
    if rules and data:
        text = data.decode("utf-8", "surrogateescape")
        redacted = _user_redact(text, rules)
        if redacted is not text:
            data = redacted.encode("utf-8", "surrogateescape")
    return data


def _anchored_sub(data: bytes, group: Group) -> bytes:
    """Each rule of the group tried at each occurrence of its needle, the first that
    matches replaced (the lookbehinds see the bytes before: `match` is given a position)."""
    pieces, last = [], 0
    position = data.find(group.needle)
    while position != -1:
        for rule in group.rules:
            start = position - rule.back
            match = rule.pattern.match(data, start) if start >= last else None
            if match is not None:
                pieces += (data[last:start], match.expand(rule.replacement))
                last = match.end()
                break
        position = data.find(group.needle, max(position + 1, last))
    if not pieces:
        return data
    pieces.append(data[last:])
    return b"".join(pieces)


def redact_text(text: str, rules: tuple[re.Pattern, ...] = ()) -> str:
    """`text` (a header value, an error message) with its secrets replaced by markers."""
    if not text:
        return text
    if not _suspect(text):  # most values: one pass over the needles, no generator
        return _user_redact(text, rules) if rules else text
    for group, needles in zip(BUILTIN, _TEXT_NEEDLES):
        if any(needle in text for needle in needles):
            for rule in group.rules:
                text = rule.text_pattern.sub(rule.text_replacement, text)
    return _user_redact(text, rules) if rules else text


def _suspect(text: str) -> bool:
    """Whether a built-in pattern could match in `text` (the values of a call, joined)."""
    for needle in _FLAT_TEXT_NEEDLES:
        if needle in text:
            return True
    return False


_FLAT_TEXT_NEEDLES = tuple(needle for needles in _TEXT_NEEDLES for needle in needles)


def _user_redact(text: str, rules: tuple[re.Pattern, ...]) -> str:
    """Each match of an organization's pattern, as far as it can go without breaking JSON
    (usage.redaction's docstring), replaced by MARKER; the same object when none matched."""
    for pattern in rules:
        pieces, last = [], 0
        for match in pattern.finditer(text):
            start, end = _json_safe_span(text, *match.span())
            if start < last or start >= end:
                continue
            pieces += (text[last:start], MARKER)
            last = end
        if pieces:
            pieces.append(text[last:])
            text = "".join(pieces)
    return text


def _json_safe_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The part of a match that is replaced: at most USER_MATCH_MAX characters, never a
    double quote (a secret lives inside one JSON string: the match stops before the
    first quote past its leading ones), never half of a backslash escape."""
    end = min(end, start + USER_MATCH_MAX)
    while start < end and text[start] == '"':
        start += 1
    quote = text.find('"', start, end)
    if quote != -1:
        end = quote
    # Begins inside an escape (the match starts at the n of \n, or in \u00e9): from its backslash.
    backslash = text.rfind("\\", max(0, start - 5), start)
    if backslash != -1 and _escapes(text, backslash):
        escape_end = backslash + (6 if text[backslash + 1 : backslash + 2] == "u" else 2)
        if escape_end > start:
            start = backslash
    # Ends with an escape's backslash: it stays, with what it escapes.
    if end > start and text[end - 1] == "\\" and _escapes(text, end - 1):
        end -= 1
    return start, end


def _escapes(text: str, index: int) -> bool:
    """Whether the backslash at `index` begins an escape (an odd run of backslashes ends there)."""
    run = 0
    while index - run >= 0 and text[index - run] == "\\":
        run += 1
    return run % 2 == 1


# --- Records ------------------------------------------------------------------------------

# What the journal keeps of a call whose organization's patterns this process has not
# read yet (its first calls, until the shipper reads them: within a batch's linger): no
# header value, which those patterns might catch. The record itself keeps them, redacted
# by the shipper; only a call recovered from a killed process's journal goes without.
_UNREAD = {"user_agent": "", "session_name": "", "claude_code_session_id": "", "attribution": {}}


def journalled_facts(facts: dict) -> dict:
    """Redact a call's facts in place (usage.pipeline.started, on the event loop: a
    dictionary lookup per value once seen) and return what the journal may write."""
    rules = organization_rules_cached(facts["organization_id"])
    facts_redact(facts, rules or ())
    return facts if rules is not None else {**facts, **_UNREAD}


def journalled_record(record: UsageRecord) -> UsageRecord:
    """Redact an ended call's error message in place (it may quote what the provider
    refused; usage.pipeline.record, on the event loop, errors only) and return what the
    journal may write."""
    rules = organization_rules_cached(record.organization_id)
    usage = record.usage
    if getattr(usage, "error_message", ""):
        usage.error_message = redact_text(usage.error_message, rules or ())
    if rules is not None:
        return record
    usage = replace(usage, error_message="") if isinstance(usage, TokenUsage) else usage
    return replace(record, **_UNREAD, usage=usage)


_USAGE_TEXT_FIELDS = tuple(f.name for f in fields(TokenUsage) if f.type in (str, "str"))


def facts_redact(facts: dict, rules: tuple[re.Pattern, ...] = ()) -> None:
    """Redact the header values a call's facts hold (usage.pipeline.started: on the event loop,
    before they are journalled). Without organization patterns this is a dictionary
    lookup per value: the same user agent, session and attribution values come back call
    after call, and a value once found clean is remembered (_CLEAN_VALUES)."""
    clean = _CLEAN_VALUES
    attribution = facts["attribution"]
    if (
        not rules
        and facts["user_agent"] in clean
        and facts["session_name"] in clean
        and facts["claude_code_session_id"] in clean
    ):
        for name, value in attribution.items():
            if name not in clean or value not in clean:
                break
        else:
            return
    for name in ("user_agent", "session_name", "claude_code_session_id"):
        facts[name] = _value_redact(facts[name], rules)
    if attribution:
        facts["attribution"] = {
            _value_redact(name, rules): _value_redact(value, rules) for name, value in attribution.items()
        }


# Header values known to hold no built-in pattern's needle (bounded: cleared when full).
_CLEAN_VALUES: dict[str, None] = {"": None}
_CLEAN_MAX = 10_000


def _value_redact(value: str, rules: tuple[re.Pattern, ...]) -> str:
    if value in _CLEAN_VALUES:
        return _user_redact(value, rules) if rules else value
    if _suspect(value):
        return redact_text(value, rules)
    if len(_CLEAN_VALUES) >= _CLEAN_MAX:
        _CLEAN_VALUES.clear()
    _CLEAN_VALUES[value] = None
    return _user_redact(value, rules) if rules else value


def redact_record(record: UsageRecord) -> UsageRecord:
    """The record with its bodies and header values redacted (the shipper thread, before
    the record becomes a payload), changed in place and returned. Never raises: a record
    that cannot be redacted (a bug) goes without its bodies and header values."""
    try:
        rules = organization_rules(record.organization_id)
        if rules is None:
            # The organization's patterns are unknown (the database is unreachable and
            # this process never read them): what they would catch must not be kept.
            _drop_bodies(record)
            rules = ()
        _record_redact(record, rules)
    except Exception:  # noqa: BLE001 - never ship what could not be redacted
        logger.exception("usage record %s could not be redacted; its bodies are left out", record.id)
        _drop_bodies(record)
        record.user_agent = record.session_name = record.claude_code_session_id = ""
        record.attribution = {}
    return record


def _record_redact(record: UsageRecord, rules: tuple[re.Pattern, ...]) -> None:
    for name in ("request_body", "response_body"):
        body = getattr(record, name)
        if body:
            raw = body_raw(body)
            redacted = redact_bytes(raw, rules)
            if name == "response_body" and (record.streamed or record.response_content_type.startswith("text/event-stream")):
                redacted = stream_redact(redacted, rules)
            # The raw bytes: a list of chunks is joined once, here, whatever happens.
            setattr(record, name, redacted)
    facts = {
        "user_agent": record.user_agent,
        "session_name": record.session_name,
        "claude_code_session_id": record.claude_code_session_id,
        "attribution": record.attribution,
    }
    facts_redact(facts, rules)
    record.user_agent, record.session_name = facts["user_agent"], facts["session_name"]
    record.claude_code_session_id, record.attribution = facts["claude_code_session_id"], facts["attribution"]
    record.upstream_request_id = redact_text(record.upstream_request_id, rules)
    usage = record.usage
    for name in _USAGE_TEXT_FIELDS:
        value = getattr(usage, name)
        if value:
            setattr(usage, name, redact_text(value, rules))


# --- Streams: a secret cut across events ----------------------------------------------


def stream_redact(data: bytes, rules: tuple[re.Pattern, ...] = ()) -> bytes:
    """An SSE stream with the secrets that its text deltas spell out together redacted (a
    model repeating a key sends it a few characters an event: no event holds it whole).

    The deltas of each block are joined (Anthropic's text, thinking and tool-input deltas,
    OpenAI's chat content and tool arguments, the Responses API's text deltas); where a
    match spans several, the first event gets the marker and each event's share of the
    secret goes; the events changed are written again (compact JSON), the others stay
    as they came. Parsed only when the deltas' text, joined, could hold a secret: a
    regular expression picks their raw strings out first (a needle is ASCII with no
    character JSON escapes, so the raw strings hold it as the text does)."""
    raw = _FRAGMENT.findall(data)
    if len(raw) < 2:
        return data
    if not any(needle in b"".join(raw) for needle in _FLAT_NEEDLES):
        if not rules:
            return data
        try:
            joined = "".join(orjson.loads(b'["' + b'","'.join(raw) + b'"]'))
        except orjson.JSONDecodeError:
            joined = ""
        if not any(pattern.search(joined) for pattern in rules):
            return data
    lines = data.split(b"\n")
    fragments: dict[tuple, list[list]] = {}  # block → [line index, event, setter, text]
    for index, line in enumerate(lines):
        if not line.startswith(b"data:") or b"{" not in line[:8]:
            continue
        try:
            event = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            continue
        for key, holder, field in _delta_fields(event):
            fragments.setdefault(key, []).append([index, event, holder, field, holder[field]])
    changed = set()
    for parts in fragments.values():
        if len(parts) < 2:
            continue
        texts = [part[4] for part in parts]
        redacted = _spanning_redact(texts, rules)
        for part, text in zip(parts, redacted):
            if text != part[4]:
                part[2][part[3]] = text
                changed.add(part[0])
    if not changed:
        return data
    events = {part[0]: part[1] for parts in fragments.values() for part in parts}
    for index in changed:
        lines[index] = b"data: " + orjson.dumps(events[index]) + (b"\r" if lines[index].endswith(b"\r") else b"")
    return b"\n".join(lines)


# The strings of the keys _delta_fields reads, as they are written in the stream.
_FRAGMENT = re.compile(rb'"(?:text|thinking|partial_json|content|arguments|delta)":\s*"([^"\\]*(?:\\.[^"\\]*)*)"')
_FLAT_NEEDLES = tuple(needle.encode() for needle in _FLAT_TEXT_NEEDLES)


def _delta_fields(event) -> list[tuple[tuple, dict, str]]:
    """(block, dict, key) of each text fragment an event carries."""
    if not isinstance(event, dict):
        return []
    kind = event.get("type")
    found = []
    delta = event.get("delta")
    if kind == "content_block_delta" and isinstance(delta, dict):  # Anthropic
        for field in ("text", "thinking", "partial_json"):
            if isinstance(delta.get(field), str):
                found.append((("anthropic", event.get("index"), field), delta, field))
    elif isinstance(kind, str) and kind.endswith(".delta") and isinstance(delta, str):  # Responses API
        found.append((("responses", kind, event.get("item_id"), event.get("content_index")), event, "delta"))
    for choice in event.get("choices") or () if isinstance(event.get("choices"), list) else ():  # chat
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        if isinstance(delta.get("content"), str):
            found.append((("chat", choice.get("index")), delta, "content"))
        for call in delta.get("tool_calls") or () if isinstance(delta.get("tool_calls"), list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                found.append((("chat-tool", choice.get("index"), call.get("index")), function, "arguments"))
    return found


def _spanning_redact(texts: list[str], rules: tuple[re.Pattern, ...]) -> list[str]:
    """The fragments, with each match of the joined text that spans two or more of them
    replaced: its marker where it began, its characters gone from each."""
    joined = "".join(texts)
    if not rules and not _suspect(joined):
        return texts
    patterns = [(rule.text_pattern, rule.text_replacement) for group in BUILTIN for rule in group.rules]
    patterns += [(pattern, MARKER) for pattern in rules]
    for pattern, replacement in patterns:
        ends = list(itertools.accumulate(len(text) for text in texts))
        for match in reversed(list(pattern.finditer(joined))):
            start, end = match.span()
            first = bisect.bisect_right(ends, start)
            last = bisect.bisect_left(ends, end)
            if first == last:
                continue  # inside one event: the pass over the bytes saw it
            texts = _splice(texts, ends, start, end, match.expand(replacement), first, last)
            ends = list(itertools.accumulate(len(text) for text in texts))
        joined = "".join(texts)
    return texts


def _splice(texts, ends, start, end, replacement, first, last) -> list[str]:
    texts = list(texts)
    for index in range(first, last + 1):
        begin = ends[index] - len(texts[index])
        local_start, local_end = max(start, begin) - begin, min(end, ends[index]) - begin
        text = texts[index]
        texts[index] = text[:local_start] + (replacement if index == first else "") + text[local_end:]
    return texts


def _drop_bodies(record: UsageRecord) -> None:
    record.request_body = record.response_body = b""
    record.bodies_dropped = True


# --- Organizations' patterns ------------------------------------------------------------

_rules: dict[str, tuple[float, tuple[re.Pattern, ...]]] = {}
# Organizations whose patterns could not be read, until when not to try again.
_unreadable_until: dict[str, float] = {}
_rules_lock = threading.Lock()


def organization_rules_cached(organization_id: str) -> tuple[re.Pattern, ...] | None:
    """The organization's compiled patterns as this process last read them, however old;
    None when it never did. A dictionary lookup: the proxy calls it on the event loop."""
    hit = _rules.get(organization_id)
    return hit[1] if hit is not None else None


def organization_rules(organization_id: str) -> tuple[re.Pattern, ...] | None:
    """The organization's compiled patterns, read from the database at most every
    RULES_CACHE_SECONDS (never on the event loop: the shipper thread calls this). On a
    database error the last ones read are used; None when there are none to use."""
    now = time.monotonic()
    hit = _rules.get(organization_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    if _unreadable_until.get(organization_id, 0.0) > now:
        return hit[1] if hit is not None else None
    try:
        patterns = _patterns_read(organization_id)
    except Exception:  # noqa: BLE001 - the database is unreachable: keep what is known
        # Tried again (and told) once per RULES_CACHE_SECONDS, not once per record: an
        # outage must not hold the shipper in connection attempts.
        _unreadable_until[organization_id] = now + RULES_CACHE_SECONDS
        logger.warning("redaction patterns of %s unreadable; %s for %.0f s", organization_id,
                       "using the last ones read" if hit else "bodies left out", RULES_CACHE_SECONDS)
        return hit[1] if hit is not None else None
    _unreadable_until.pop(organization_id, None)
    compiled = _compile(organization_id, patterns)
    with _rules_lock:
        _rules[organization_id] = (now + RULES_CACHE_SECONDS, compiled)
    return compiled


def organization_rules_forget(organization_id: str | None = None) -> None:
    """Read the organization's patterns (every one's: None) again at next use, in this
    process (the service that changes them; tests)."""
    with _rules_lock:
        if organization_id is None:
            _rules.clear()
            _unreadable_until.clear()
        else:
            _rules.pop(organization_id, None)
            _unreadable_until.pop(organization_id, None)


def _patterns_read(organization_id: str) -> list:
    from django.db import close_old_connections, connection

    from accounts.models import Organization

    if not connection.in_atomic_block:  # the shipper thread's connection may be stale
        close_old_connections()
    row = Organization.objects.filter(id=organization_id).values_list("redaction_patterns", flat=True).first()
    return row or []


def _compile(organization_id: str, patterns: list) -> tuple[re.Pattern, ...]:
    compiled = []
    for pattern in patterns if isinstance(patterns, list) else ():
        try:
            compiled.append(re.compile(pattern))
        except (re.error, TypeError):
            # Saved patterns are validated (accounts.validators); one that is not is skipped.
            logger.warning("organization %s: redaction pattern %r does not compile", organization_id, pattern)
    return tuple(compiled)
