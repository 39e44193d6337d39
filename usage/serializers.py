"""Shapes of the usage API: query parameters and bodies in, JSON out.

Costs go out as decimal strings in cents, exact (never a float), trailing zeros
trimmed: "1.383", "0", or null when a call could not be priced.
"""

import re
from datetime import UTC, date, datetime

from rest_framework import serializers

from usage.models import Session, UsageLog
from usage.money import cents
from usage.selectors.logs import NO_SESSION, USAGE_LOG_LIST_FIELDS
from usage.selectors.summary import GROUP_BY_CHOICES
from usage.time_range import TimeRange, day_end, day_start


class CentsField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return cents(value)


# --- Query parameters -----------------------------------------------------------------

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

    def validate_endpoint(self, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9-]+", value):
            raise serializers.ValidationError("endpoint must be an endpoint id or slug")
        return value


class UsageSummaryParamsSerializer(TimeRangeParamsSerializer):
    group_by = serializers.ChoiceField(
        choices=GROUP_BY_CHOICES,
        error_messages={
            "required": "group_by is required: one of " + ", ".join(GROUP_BY_CHOICES),
            "invalid_choice": "group_by must be one of " + ", ".join(GROUP_BY_CHOICES),
        },
    )


# --- Usage logs -----------------------------------------------------------------------

# The API names the foreign keys by their ids and the cache totals by the provider's
# names (as it always has); the other fields keep the column names.
_OUTPUT_NAMES = {
    "endpoint_id": "endpoint",
    "session_id": "session",
    "cache_write_tokens": "cache_creation_input_tokens",
    "cache_read_tokens": "cache_read_input_tokens",
}
_LIST_OUTPUT_FIELDS = [
    _OUTPUT_NAMES.get(name, name) for name in USAGE_LOG_LIST_FIELDS if name != "organization_id"
]


class UsageLogSerializer(serializers.ModelSerializer):
    """One log in a list: everything but the bodies."""

    endpoint = serializers.UUIDField(source="endpoint_id", read_only=True, allow_null=True)
    session = serializers.UUIDField(source="session_id", read_only=True, allow_null=True)
    cache_creation_input_tokens = serializers.IntegerField(source="cache_write_tokens", read_only=True)
    cache_read_input_tokens = serializers.IntegerField(source="cache_read_tokens", read_only=True)
    cost_cents = CentsField()

    class Meta:
        model = UsageLog
        fields = _LIST_OUTPUT_FIELDS
        read_only_fields = fields


class FromContext(serializers.Field):
    """What the view computed for the object: `context[key]`, or its `attribute`, shaped."""

    def __init__(self, key: str, attribute: str = "", represent=None, **kwargs):
        self.key, self.attribute, self.represent = key, attribute, represent
        super().__init__(read_only=True, source="*", **kwargs)

    def to_representation(self, instance):
        value = self.context[self.key]
        value = getattr(value, self.attribute) if self.attribute else value
        return value if self.represent is None or value is None else self.represent(value)


def _cents_by_key(values: dict) -> dict:
    return {key: cents(value) for key, value in values.items()}


def _parts(parts) -> list[dict]:  # executor, advisor, compaction, fallbacks, server tools
    return [
        {"part": p.kind, "label": p.label, "model": p.model, "billed": p.billed, "note": p.note,
         "speed": p.speed, **p.counts, "cost_cents": cents(p.cost)}
        for p in parts
    ]


class UsageLogDetailSerializer(UsageLogSerializer):
    """One log with its bodies, the message a stream rebuilds to and its cost breakdown:
    per token class, per part and per model."""

    request_body = FromContext("bodies", "request_body")
    response_body = FromContext("bodies", "response_body")
    response_message = FromContext("bodies", "response_message")
    request_truncated = FromContext("bodies", "request_truncated")
    response_truncated = FromContext("bodies", "response_truncated")
    request_size = FromContext("bodies", "request_size")
    response_size = FromContext("bodies", "response_size")
    cost_breakdown = FromContext("cost_breakdown", represent=_cents_by_key)
    cost_parts = FromContext("cost_parts", represent=_parts)
    cost_by_model = FromContext("cost_by_model", represent=_cents_by_key)

    class Meta(UsageLogSerializer.Meta):
        fields = _LIST_OUTPUT_FIELDS + [
            "error_message",
            "stop_reason",
            "request_body",
            "response_body",
            "response_message",
            "request_truncated",
            "response_truncated",
            "request_size",
            "response_size",
            "cost_breakdown",
            "cost_parts",
            "cost_by_model",
        ]
        read_only_fields = fields


# --- Summary --------------------------------------------------------------------------


def summary_sums(sums: dict) -> dict:
    return {**sums, "cost_cents": cents(sums["cost_cents"])}


def summary_representation(summary) -> dict:
    items = []
    for row in summary.rows:
        key = row.key.isoformat() if isinstance(row.key, date) else row.key
        item = {"key": str(key) if key is not None else None}
        if summary.group_by in ("endpoint", "session"):
            item["label"] = row.label
        item.update(summary_sums(row.sums))
        items.append(item)
    time_range = summary.time_range
    return {
        "group_by": summary.group_by,
        "since": _instant(time_range.since),
        "until": _instant(time_range.until),
        "items": items,
        "totals": summary_sums(summary.totals),
    }


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- Sessions -------------------------------------------------------------------------


class SessionSerializer(serializers.ModelSerializer):
    endpoint = serializers.UUIDField(source="endpoint_id", read_only=True, allow_null=True)
    endpoint_slug = serializers.SerializerMethodField()
    cost_cents = CentsField()

    class Meta:
        model = Session
        fields = [
            "id",
            "name",
            "source",
            "external_id",
            "endpoint",
            "endpoint_slug",
            "started_at",
            "ended_at",
            "last_call_at",
            "calls",
            "input_tokens",
            "output_tokens",
            "cache_write_tokens",
            "cache_read_tokens",
            "cost_cents",
            "duration_ms",
        ]
        read_only_fields = fields

    def get_endpoint_slug(self, session: Session) -> str | None:
        return session.endpoint.slug if session.endpoint_id else None


class SessionCreateInputSerializer(serializers.Serializer):
    # Blank names pass through so the service gives its own message.
    name = serializers.CharField(allow_blank=True, trim_whitespace=False)
    endpoint = serializers.CharField(required=False, allow_null=True, allow_blank=True)
