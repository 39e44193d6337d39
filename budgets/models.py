"""Budgets: an amount over a calendar period for a scope, its alerts and where they go."""

import uuid
from decimal import Decimal

from django.db import models

from accounts.models import Organization
from proxy.models import ProxyEndpoint

CENTS = dict(max_digits=16, decimal_places=4)
DEFAULT_THRESHOLDS = [50, 80, 100]


def _default_thresholds():
    return list(DEFAULT_THRESHOLDS)


class Budget(models.Model):
    """USD over a day, week or month (the organization's time zone) for one scope.

    Alerts go out once per threshold (percent of `amount_cents`) and period. With
    `hard_limit`, calls covered by the budget are refused once its spend reaches
    `limit_cents` (the amount, unless a separate limit is set), until the period resets.
    """

    class Scope(models.TextChoices):
        ORGANIZATION = "organization", "Organization"
        ENDPOINT = "endpoint", "Endpoint"
        PERSON = "person", "Person"

    class Period(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="budgets")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ORGANIZATION)
    endpoint = models.ForeignKey(
        ProxyEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    # A named key's name or an x-codecosts-user value (UsageLog.person).
    person = models.CharField(max_length=100, blank=True)
    amount_cents = models.DecimalField(**CENTS)
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.MONTH)
    thresholds = models.JSONField(default=_default_thresholds)
    hard_limit = models.BooleanField(default=False)
    # Where the hard limit blocks, when not at the amount itself.
    hard_limit_cents = models.DecimalField(null=True, blank=True, **CENTS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self):
        return self.name

    @property
    def limit_cents(self) -> Decimal:
        return self.hard_limit_cents if self.hard_limit_cents is not None else self.amount_cents


class AlertDestination(models.Model):
    """Where an organization's budget alerts go: an email address, a webhook, Slack."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"
        SLACK = "slack", "Slack incoming webhook"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="alert_destinations"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # An email address, or the URL the alert is POSTed to.
    target = models.CharField(max_length=500)
    # Signs webhook bodies (HMAC-SHA256, x-codecosts-signature); shown once at creation.
    secret = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.kind}: {self.target}"


class BudgetAlert(models.Model):
    """A threshold crossed in one period: made once, whatever the number of writers."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateTimeField()
    threshold = models.PositiveSmallIntegerField()
    spend_cents = models.DecimalField(**CENTS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start", "threshold"], name="budget_alert_once"
            )
        ]


class AlertDelivery(models.Model):
    """One alert to one destination: its attempts and how the last one went."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(BudgetAlert, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(
        AlertDestination, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alert", "destination"], name="alert_delivery_once")
        ]
