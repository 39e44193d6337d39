"""Shapes of the budgets and alert destinations APIs: types in, JSON out. Rules across fields live in
budgets.services.budget_fields.

Money goes in as dollars (`amount_usd`, `hard_limit_usd`: a decimal string such as "100"
or "12.50", or a JSON number) and is stored in cents; it comes out as dollars in exact
decimal strings, trailing zeros trimmed ("12.5", "0.02235"), as usage.money writes them.
"""

from datetime import UTC
from decimal import Decimal, InvalidOperation

import httpx
from rest_framework import serializers

from budgets.models import DEFAULT_THRESHOLDS, AlertDelivery, AlertDestination, Budget
from usage.money import dollars_exact

USD_DECIMALS = 6  # 1e-4 cents: what Budget stores
USD_MAX = Decimal(10) ** 10  # below Budget's 16 digits of cents
THRESHOLDS_MAX = 10
THRESHOLD_PERCENT_MAX = 1000


class UsdField(serializers.Field):
    """Dollars, more than 0: a decimal string or a number (never a boolean)."""

    def to_internal_value(self, data):
        name = self.field_name
        value = None
        if isinstance(data, (str, int, float, Decimal)) and not isinstance(data, bool):
            try:
                value = Decimal(str(data).strip())
            except InvalidOperation:
                value = None
        if value is None or not value.is_finite() or value <= 0:
            raise serializers.ValidationError(
                f"{name} must be a number of dollars more than 0, such as 100 or 12.50"
            )
        if value.as_tuple().exponent < -USD_DECIMALS:
            raise serializers.ValidationError(f"{name} has more than {USD_DECIMALS} decimal places")
        if value >= USD_MAX:
            raise serializers.ValidationError(f"{name} must be less than {USD_MAX:,}")
        return value

    def to_representation(self, value):
        return dollars_exact(value)


class ThresholdsField(serializers.Field):
    """Percents of the amount at which an alert goes out: distinct whole numbers, sorted."""

    def to_internal_value(self, data):
        percents = []
        if isinstance(data, list) and 1 <= len(data) <= THRESHOLDS_MAX:
            for item in data:
                if isinstance(item, str) and item.strip().isdigit():
                    item = int(item.strip())
                if isinstance(item, bool) or not isinstance(item, int):
                    break
                percents.append(item)
            else:
                if len(set(percents)) == len(percents) and all(
                    1 <= p <= THRESHOLD_PERCENT_MAX for p in percents
                ):
                    return sorted(percents)
        raise serializers.ValidationError(
            f"thresholds must be a list of 1 to {THRESHOLDS_MAX} distinct whole percents from 1 "
            f"to {THRESHOLD_PERCENT_MAX}, such as [50, 80, 100]"
        )

    def to_representation(self, value):
        return list(value)


def _choice(name: str, choices, default: str) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=choices,
        default=default,
        error_messages={
            "invalid_choice": f"{name} must be one of {', '.join(choices)} (not \"{{input}}\")"
        },
    )


class BudgetInputSerializer(serializers.Serializer):
    """POST (all of it; defaults below) and PATCH (partial=True: what is sent changes)."""

    name = serializers.CharField(max_length=100)
    scope = _choice("scope", Budget.Scope.values, Budget.Scope.ORGANIZATION)
    endpoint = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    person = serializers.CharField(required=False, allow_blank=True, max_length=100)
    amount_usd = UsdField()
    period = _choice("period", Budget.Period.values, Budget.Period.MONTH)
    thresholds = ThresholdsField(default=lambda: list(DEFAULT_THRESHOLDS))
    hard_limit = serializers.BooleanField(default=False)
    hard_limit_usd = UsdField(required=False, allow_null=True)


def _moment(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BudgetSerializer(serializers.ModelSerializer):
    """A budget, and where it stands now (`context["statuses"][budget.pk]`, a
    budgets.selectors.BudgetStatus)."""

    endpoint = serializers.UUIDField(source="endpoint_id", read_only=True, allow_null=True)
    endpoint_slug = serializers.SerializerMethodField()
    person = serializers.SerializerMethodField()
    amount_usd = UsdField(source="amount_cents", read_only=True)
    hard_limit_usd = UsdField(source="hard_limit_cents", read_only=True, allow_null=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Budget
        fields = [
            "id", "name", "scope", "endpoint", "endpoint_slug", "person", "amount_usd", "period",
            "thresholds", "hard_limit", "hard_limit_usd", "created_at", "status",
        ]
        read_only_fields = fields

    def get_endpoint_slug(self, budget: Budget) -> str | None:
        return budget.endpoint.slug if budget.endpoint_id else None

    def get_person(self, budget: Budget) -> str | None:
        return budget.person if budget.scope == Budget.Scope.PERSON else None

    def get_status(self, budget: Budget) -> dict:
        status = self.context["statuses"][budget.pk]
        return {
            "period_start": _moment(status.period_start),
            "period_end": _moment(status.period_end),
            "time_zone": status.time_zone,
            "spend_usd": dollars_exact(status.spend_cents),
            "percent": float(status.percent),
            "projection": "linear",
            "projected_usd": dollars_exact(status.projected_cents),
            "blocked": status.blocked,
            "resets_in_seconds": status.resets_in_seconds,
        }


def target_display(destination: AlertDestination) -> str:
    """The target as listed: a Slack incoming-webhook URL is itself the credential to post
    into the channel (Slack: "keep it secret"), so only its host and last characters show.
    Webhook URLs show whole: their bodies are signed with a secret that never shows again."""
    if destination.kind != AlertDestination.Kind.SLACK:
        return destination.target
    url = httpx.URL(destination.target)
    return f"{url.scheme}://{url.host}/…{destination.target[-4:]}"


class AlertDestinationSerializer(serializers.ModelSerializer):
    target = serializers.SerializerMethodField()

    class Meta:
        model = AlertDestination
        fields = ["id", "kind", "target", "created_at"]
        read_only_fields = fields

    def get_target(self, destination: AlertDestination) -> str:
        return target_display(destination)


class AlertDestinationCreatedSerializer(serializers.ModelSerializer):
    """What its creator gets back, once: the whole target and the webhook's signing secret."""

    secret = serializers.SerializerMethodField()

    class Meta:
        model = AlertDestination
        fields = ["id", "kind", "target", "secret", "created_at"]
        read_only_fields = fields

    def get_secret(self, destination: AlertDestination) -> str | None:
        return destination.secret or None


class AlertDestinationCreateInputSerializer(serializers.Serializer):
    # Blank and unknown values pass through so the service gives its own message for them.
    kind = serializers.CharField(allow_blank=True)
    target = serializers.CharField(allow_blank=True, max_length=2000)


class AlertDeliverySerializer(serializers.ModelSerializer):
    budget_id = serializers.UUIDField(source="alert.budget_id", read_only=True)
    budget_name = serializers.CharField(source="alert.budget.name", read_only=True)
    threshold = serializers.IntegerField(source="alert.threshold", read_only=True)
    period_start = serializers.DateTimeField(source="alert.period_start", read_only=True)

    class Meta:
        model = AlertDelivery
        fields = [
            "id", "status", "attempts", "last_status_code", "last_error", "budget_id",
            "budget_name", "threshold", "period_start", "created_at", "delivered_at",
        ]
        read_only_fields = fields
