"""Validation of what an organization sets for itself."""

import re

from django.core.exceptions import ValidationError

REDACTION_PATTERNS_MAX = 20
REDACTION_PATTERN_LENGTH = 200
# How much of a long pattern a message quotes.
_QUOTED = 40


def _quoted(pattern: str) -> str:
    return repr(pattern if len(pattern) <= _QUOTED else pattern[:_QUOTED] + "…")


def redaction_patterns_validate(patterns) -> None:
    """An organization's redaction patterns: a list of at most REDACTION_PATTERNS_MAX
    regular expressions of at most REDACTION_PATTERN_LENGTH characters each, that compile
    and match no empty text (one would redact between every two characters).

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
    if errors:
        raise ValidationError([ValidationError(message, code="invalid") for message in errors])
