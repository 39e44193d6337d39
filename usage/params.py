"""Query parameters of the usage API: time ranges, the logs list's filters, group_by."""

import re
from datetime import UTC, date, datetime

from rest_framework import serializers

from usage.attribution import (
    AGENT_ID_MAX,
    AGENT_TYPE_MAX,
    PERSON_MAX,
    PROPERTY_NAME_MAX,
    PROPERTY_VALUE_MAX,
    REQUEST_CLASS_MAX,
    TAG_MAX,
)
from usage.models import UsageLog
from usage.selectors.logs import NO_SESSION, NOT_SET
from usage.selectors.summary import GROUP_BY_CHOICES, group_by_is_valid
from usage.time_range import TimeRange, day_end, day_start


def _text_filter(name: str, limit: int) -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        max_length=limit,
        error_messages={"max_length": f"{name} must be at most {limit} characters"},
    )


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BOUND_HELP = (
    "an ISO 8601 date (2026-03-01) or date-time (2026-03-01T09:30:00Z; without an offset, UTC)"
)


class BoundField(serializers.Field):
    """One end of a time range: a UTC day, or an instant.

    `since`: a date means from the start of that day. `until` (exclusive): a date-time
    is the first instant not included; a date means up to the end of that day, so
    `since=2026-03-01&until=2026-03-01` is that one whole day. Days are UTC days.
    """

    default_error_messages = {"invalid": "{name} must be " + _BOUND_HELP}

    def __init__(self, *, end: bool, **kwargs):
        self.end = end
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = str(data).strip()
        if not text:
            return None
        try:
            if _DATE_RE.fullmatch(text):
                day = date.fromisoformat(text)
                return day_end(day) if self.end else day_start(day)
            # "+02:00" in an unencoded query string arrives as " 02:00".
            if "T" in text and re.search(r" [0-9]{2}:?[0-9]{2}$", text):
                text = text[: text.rindex(" ")] + "+" + text[text.rindex(" ") + 1 :]
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid", name=self.field_name)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment


class TimeRangeParamsSerializer(serializers.Serializer):
    since = BoundField(end=False)
    until = BoundField(end=True)

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and until <= since:
            raise serializers.ValidationError(
                {"until": ["until must be after since"]}, code="invalid_range"
            )
        return attrs

    def time_range(self) -> TimeRange:
        return TimeRange(
            since=self.validated_data.get("since"), until=self.validated_data.get("until")
        )


class SessionReferenceField(serializers.Field):
    """A session id, or "none" for calls outside any session."""

    default_error_messages = {"invalid": f'session must be a session id or "{NO_SESSION}"'}

    def to_internal_value(self, data):
        text = str(data).strip()
        if text == "" or text == NO_SESSION:
            return text
        try:
            return serializers.UUIDField().to_internal_value(text)
        except serializers.ValidationError:
            self.fail("invalid")


class UsageLogFilterSerializer(TimeRangeParamsSerializer):
    endpoint = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=63,
        error_messages={"max_length": "endpoint must be an endpoint id or slug"},
    )
    model = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=128,
        error_messages={"max_length": "model must be at most 128 characters"},
    )
    outcome = serializers.ChoiceField(
        choices=UsageLog.Outcome.values,
        required=False,
        allow_blank=True,
        error_messages={
            "invalid_choice": "outcome must be one of " + ", ".join(UsageLog.Outcome.values)
        },
    )
    session = SessionReferenceField(required=False)
    person = _text_filter("person", PERSON_MAX)
    request_class = _text_filter("request_class", REQUEST_CLASS_MAX)
    agent_type = _text_filter("agent_type", AGENT_TYPE_MAX)
    agent = _text_filter("agent", AGENT_ID_MAX)
    tag = _text_filter("tag", TAG_MAX)
    property = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=PROPERTY_NAME_MAX + 1 + PROPERTY_VALUE_MAX,
        error_messages={"max_length": "property must be <name>:<value>, at most "
                        f"{PROPERTY_NAME_MAX} and {PROPERTY_VALUE_MAX} characters"},
    )

    def validate_property(self, value: str) -> tuple[str, str] | None:
        if not value.strip():
            return None
        name, sep, wanted = value.strip().partition(":")
        if not sep or not name or not wanted:
            raise serializers.ValidationError(
                f'property must be <name>:<value> (a value of "{NOT_SET}": calls without it)'
            )
        return name.lower(), wanted

    def validate_endpoint(self, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9-]+", value):
            raise serializers.ValidationError("endpoint must be an endpoint id or slug")
        return value


_GROUP_BY_HELP = "one of " + ", ".join(GROUP_BY_CHOICES) + " or property:<name>"


class UsageSummaryParamsSerializer(TimeRangeParamsSerializer):
    group_by = serializers.CharField(
        max_length=100,
        error_messages={
            "required": "group_by is required: " + _GROUP_BY_HELP,
            "blank": "group_by must be " + _GROUP_BY_HELP,
            "max_length": "group_by must be " + _GROUP_BY_HELP,
        },
    )

    def validate_group_by(self, value: str) -> str:
        value = value.strip()
        if value.startswith("property:"):
            value = "property:" + value[len("property:"):].lower()
        if not group_by_is_valid(value):
            raise serializers.ValidationError("group_by must be " + _GROUP_BY_HELP)
        return value
