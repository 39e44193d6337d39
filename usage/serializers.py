"""Shapes of the usage API: query parameters and bodies in, JSON out.

Costs go out as decimal strings in cents, exact (never a float), trailing zeros
trimmed: "1.383", "0", or null when a call could not be priced.
"""

from datetime import UTC, date, datetime

from rest_framework import serializers

from usage.models import Session, UsageLog
from usage.money import cents
from usage.selectors.logs import USAGE_LOG_LIST_FIELDS


class CentsField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return cents(value)


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
    # What the bodies leave out on purpose: "request", "response", "all" or "".
    omitted = serializers.SerializerMethodField()
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
            "omitted",
            "cost_breakdown",
            "cost_parts",
            "cost_by_model",
            "attribution_warnings",
        ]
        read_only_fields = fields

    def get_omitted(self, log: UsageLog) -> str:
        return getattr(getattr(log, "body", None), "omitted", "")  # no body row: ""


# --- Summary --------------------------------------------------------------------------


def summary_sums(sums: dict) -> dict:
    return {**sums, "cost_cents": cents(sums["cost_cents"])}


def summary_representation(summary) -> dict:
    """Rows keyed by what they group (a null key: calls without a session, person, tag…)."""
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
