"""Reads of budgets: which cover a call, what they have spent in a period, and where each
stands in its current one (`budget_status`, at `budget_clock()` unless told the time)."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import redis
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from budgets import state
from budgets.models import AlertDelivery, Budget
from budgets.periods import period_bounds, projection
from usage.models import UsageDaily, UsageLog, UsageRollup


def budget_covers(budget: Budget, *, endpoint_id, person: str) -> bool:
    if budget.scope == Budget.Scope.ENDPOINT:
        return str(budget.endpoint_id) == str(endpoint_id)
    if budget.scope == Budget.Scope.PERSON:
        return bool(person) and budget.person == person
    return True


def budget_spend(budget: Budget, start: datetime, end: datetime) -> Decimal:
    """Cents spent by the budget's scope in [start, end): whole UTC days from the daily
    totals (organization, endpoint) or the rollups (person), the hours before the first
    and after the last whole day (a zone other than UTC) from the logs."""
    first_day = (start.astimezone(UTC) + timedelta(days=1) - timedelta(microseconds=1)).date()
    last_day = end.astimezone(UTC).date()  # exclusive
    whole_start = datetime.combine(first_day, time.min, tzinfo=UTC)
    whole_end = datetime.combine(last_day, time.min, tzinfo=UTC)
    total = Decimal(0)
    if whole_start < whole_end:
        if budget.scope == Budget.Scope.PERSON:
            days = UsageRollup.objects.filter(
                organization_id=budget.organization_id, dimension="person", key=budget.person
            )
        else:
            days = UsageDaily.objects.filter(organization_id=budget.organization_id)
            if budget.scope == Budget.Scope.ENDPOINT:
                days = days.filter(endpoint_id=budget.endpoint_id)
        days = days.filter(day__gte=first_day, day__lt=last_day)
        total += days.aggregate(total=Sum("cost_cents"))["total"] or 0
        edges = Q(started_at__gte=start, started_at__lt=whole_start) | Q(
            started_at__gte=whole_end, started_at__lt=end
        )
    else:
        edges = Q(started_at__gte=start, started_at__lt=end)
    if start < whole_start or whole_end < end or whole_start >= whole_end:
        logs = UsageLog.objects.filter(edges, organization_id=budget.organization_id)
        if budget.scope == Budget.Scope.ENDPOINT:
            logs = logs.filter(endpoint_id=budget.endpoint_id)
        elif budget.scope == Budget.Scope.PERSON:
            logs = logs.filter(person=budget.person)
        total += logs.aggregate(total=Sum("cost_cents"))["total"] or 0
    return Decimal(total)


def budget_clock() -> datetime:
    """Now, for budget statuses: the one clock of the pages, the API and the cards."""
    return timezone.now()


def budget_list(*, organization) -> QuerySet:
    """The organization's budgets, oldest first, with what their statuses read."""
    return (
        Budget.objects.filter(organization=organization)
        .select_related("organization", "endpoint")
        .order_by("created_at", "pk")
    )


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Where a budget stands in its current period (the organization's calendar)."""

    period_start: datetime
    period_end: datetime
    time_zone: str
    amount_cents: Decimal
    spend_cents: Decimal  # exact
    percent: Decimal  # of the amount, to one decimal
    projected_cents: Decimal  # linear, to the stored precision (1e-4 cents)
    # The hard limit is reached: by the logged spend, or by the state the proxy blocks on
    # (which also counts the calls ended whose logs are not written yet).
    blocked: bool
    resets_in_seconds: int

    @property
    def projected_over(self) -> bool:
        """On course to spend more than the amount by the period's end."""
        return self.projected_cents > self.amount_cents


def budget_status(budget: Budget, *, now: datetime | None = None) -> BudgetStatus:
    """The budget's period holding `now`, its spend so far (live, from the usage tables),
    the share of the amount spent and the spend the period is on course for."""
    now = now or budget_clock()
    time_zone = budget.organization.time_zone
    start, end = period_bounds(budget.period, time_zone, now)
    spend = budget_spend(budget, start, end)
    amount = budget.amount_cents
    percent = spend * 100 / amount if amount else Decimal(0)
    return BudgetStatus(
        period_start=start,
        period_end=end,
        time_zone=time_zone,
        amount_cents=amount,
        spend_cents=spend,
        percent=percent.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
        projected_cents=Decimal(projection(spend, start, end, now)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        ),
        blocked=budget.hard_limit and (spend >= budget.limit_cents or _published_block(budget, start)),
        resets_in_seconds=max(0, math.ceil((end - now).total_seconds())),
    )


def _published_block(budget: Budget, period_start: datetime) -> bool:
    """Whether the state the proxy reads blocks the budget in this period."""
    try:
        held = state.read(str(budget.id))
    except redis.RedisError:  # unreachable: the logged spend alone says
        return False
    return held is not None and held.blocked and held.period_start == period_start.timestamp()


def alert_deliveries(organization):
    """Every alert delivery of the organization, newest first, with its budget and
    destination at hand (one query)."""
    return (
        AlertDelivery.objects.filter(destination__organization=organization)
        .select_related("alert__budget", "destination")
        .order_by("-created_at", "-pk")
    )


def alert_delivery_log(organization, limit: int = 50) -> list[AlertDelivery]:
    """The latest `limit` deliveries of the organization's alerts, newest first: each with
    `status`, `attempts`, `last_status_code`, `last_error`, `created_at`, `delivered_at`,
    `alert.threshold`, `alert.budget.name` and `destination.kind`/`target`."""
    return list(alert_deliveries(organization)[:limit])
