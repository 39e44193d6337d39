"""Validation of what an organization sets for itself."""

import re
import re._parser as sre_parse

from django.core.exceptions import ValidationError

REDACTION_PATTERNS_MAX = 20
REDACTION_PATTERN_LENGTH = 200
# How much of a long pattern a message quotes.
_QUOTED = 40


def _quoted(pattern: str) -> str:
    return repr(pattern if len(pattern) <= _QUOTED else pattern[:_QUOTED] + "…")


def redaction_patterns_validate(patterns) -> None:
    """An organization's redaction patterns: a list of at most REDACTION_PATTERNS_MAX
    regular expressions of at most REDACTION_PATTERN_LENGTH characters each, that compile,
    match no empty text (one would redact between every two characters) and repeat no
    repetition (such as (a+)+: exponential time on a text that nearly matches, and the
    patterns run on every body stored, usage.redaction).

    Every faulty pattern gets its own message, naming it by its place (from 1) and text.
    """
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValidationError("Redaction patterns are a list of regular expressions.", code="invalid")
    if len(patterns) > REDACTION_PATTERNS_MAX:
        raise ValidationError(
            f"At most {REDACTION_PATTERNS_MAX} redaction patterns (not {len(patterns)}).", code="invalid"
        )
    errors = []
    for place, pattern in enumerate(patterns, start=1):
        name = f"Pattern {place}"
        if not pattern:
            errors.append(f"{name} is empty.")
            continue
        if len(pattern) > REDACTION_PATTERN_LENGTH:
            errors.append(
                f"{name} ({_quoted(pattern)}) has {len(pattern)} characters; at most "
                f"{REDACTION_PATTERN_LENGTH}."
            )
            continue
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            errors.append(f"{name} ({_quoted(pattern)}) is not a regular expression: {error}.")
            continue
        if compiled.search("") is not None:
            errors.append(
                f"{name} ({_quoted(pattern)}) matches an empty text, so it would redact between "
                "every two characters."
            )
        elif _nested_repeat(sre_parse.parse(pattern)):
            errors.append(
                f"{name} ({_quoted(pattern)}) repeats a repetition (such as (a+)+), which can "
                "take exponential time."
            )
    if errors:
        raise ValidationError([ValidationError(message, code="invalid") for message in errors])


_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)}


def _nested_repeat(parsed, inside: bool = False) -> bool:
    """Whether a repetition of more than one time holds another one."""
    for op, argument in parsed:
        if op in _REPEATS:
            _, most, sub = argument
            many = most > 1
            if (many and inside) or _nested_repeat(sub, inside or many):
                return True
        elif op == sre_parse.SUBPATTERN:
            if _nested_repeat(argument[-1], inside):
                return True
        elif op == sre_parse.BRANCH:
            if any(_nested_repeat(branch, inside) for branch in argument[1]):
                return True
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            if _nested_repeat(argument[1], inside):
                return True
        elif op == sre_parse.GROUPREF_EXISTS:
            if any(_nested_repeat(branch, inside) for branch in argument[1:] if branch):
                return True
    return False
