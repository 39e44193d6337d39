"""Validation of what an organization sets for itself."""

import re
import re._parser as sre_parse

from django.core.exceptions import ValidationError

REDACTION_PATTERNS_MAX = 20
REDACTION_PATTERN_LENGTH = 200


def redaction_patterns_validate(patterns) -> None:
    """An organization's redaction patterns: a list of at most REDACTION_PATTERNS_MAX
    regular expressions of at most REDACTION_PATTERN_LENGTH characters each, that compile,
    match no empty text (one would redact between every two characters) and repeat no
    repetition."""
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
        if _nested_repeat(sre_parse.parse(pattern)):
            # (a+)+ and the like take exponential time on a text that nearly matches, and
            # the patterns run on every body stored (usage.redaction).
            raise ValidationError(
                f"{pattern!r} repeats a repetition (such as (a+)+), which can take exponential time."
            )


_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)}


def _nested_repeat(parsed, inside: bool = False) -> bool:
    """Whether a repetition of more than one time holds another one."""
    for op, argument in parsed:
        if op in _REPEATS:
            _, most, sub = argument
            many = most > 1
            if many and inside:
                return True
            if _nested_repeat(sub, inside or many):
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
