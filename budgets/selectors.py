"""Reads of budgets: which cover a call, and what they have spent in a period."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from budgets.models import Budget
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
