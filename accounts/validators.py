"""Validation of what an organization sets for itself."""

import re

from django.core.exceptions import ValidationError

REDACTION_PATTERNS_MAX = 20
REDACTION_PATTERN_LENGTH = 200


def redaction_patterns_validate(patterns) -> None:
    """An organization's redaction patterns: a list of at most REDACTION_PATTERNS_MAX
    regular expressions of at most REDACTION_PATTERN_LENGTH characters each, that compile
    and match no empty text (one would redact between every two characters)."""
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValidationError("Redaction patterns are a list of regular expressions.")
    if len(patterns) > REDACTION_PATTERNS_MAX:
        raise ValidationError(f"At most {REDACTION_PATTERNS_MAX} redaction patterns.")
    for pattern in patterns:
        if not pattern or len(pattern) > REDACTION_PATTERN_LENGTH:
            raise ValidationError(f"A redaction pattern has 1 to {REDACTION_PATTERN_LENGTH} characters.")
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise ValidationError(f"{pattern!r} is not a regular expression: {error}.") from None
        if compiled.search("") is not None:
            raise ValidationError(f"{pattern!r} matches an empty text.")
