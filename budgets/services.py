"""Budgets change here: created, changed, deleted, and brought up to date after usage is
written (their spend, their block, the alerts their thresholds owe)."""

import logging
import secrets
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from budgets import state
from budgets.models import AlertDelivery, AlertDestination, Budget, BudgetAlert
from budgets.periods import period_bounds
from budgets.selectors import budget_covers, budget_spend
from usage.money import cents

logger = logging.getLogger("codecosts.budgets")


def hard_limits_cache_key(organization_id) -> str:
    """The shared cache entry of an organization's hard-limited budgets (proxy.budget_gate)."""
    return f"codecosts:budget-limits:{organization_id}"


def _changed(budget: Budget) -> None:
    cache.delete(hard_limits_cache_key(budget.organization_id))
    budget_refresh(budget)


def budget_create(*, organization, **fields) -> Budget:
    budget = Budget.objects.create(organization=organization, **fields)
    transaction.on_commit(lambda: _changed(budget))
    return budget


def budget_update(*, budget: Budget, **fields) -> Budget:
    for name, value in fields.items():
        setattr(budget, name, value)
    budget.save()
    transaction.on_commit(lambda: _changed(budget))
    return budget


def budget_delete(*, budget: Budget) -> None:
    budget_id, organization_id = str(budget.id), budget.organization_id
    budget.delete()

    def forget():
        cache.delete(hard_limits_cache_key(organization_id))
        state.forget(budget_id)

    transaction.on_commit(forget)


def alert_destination_create(*, organization, kind: str, target: str) -> AlertDestination:
    secret = secrets.token_hex(24) if kind == AlertDestination.Kind.WEBHOOK else ""
    return AlertDestination.objects.create(
        organization=organization, kind=kind, target=target, secret=secret
    )


def _money(cents: Decimal) -> str:
    return f"${(cents / 100).quantize(Decimal('0.01'))}"


def budget_message(budget: Budget, spend: Decimal, reset_at: datetime, time_zone: str) -> str:
    """What a refused call is told: the budget, its period, its spend and when it resets."""
    local = reset_at.astimezone(ZoneInfo(time_zone))
    return (
        f"Codecosts budget '{budget.name}' has reached its hard limit: {_money(spend)} spent of "
        f"{_money(budget.limit_cents)} this {budget.period}. Calls are refused until it resets "
        f"at {local:%Y-%m-%d %H:%M} {time_zone}."
    )


def budget_refresh(budget: Budget, *, now: datetime | None = None) -> state.BudgetState:
    """Recompute a budget's spend in its current period from the usage tables, publish
    its state (spend, block) and open the alerts of the thresholds it has crossed."""
    now = now or timezone.now()
    time_zone = budget.organization.time_zone
    start, end = period_bounds(budget.period, time_zone, now)
    spend = budget_spend(budget, start, end)
    blocked = budget.hard_limit and spend >= budget.limit_cents
    budget_state = state.BudgetState(
        budget_id=str(budget.id),
        organization_id=str(budget.organization_id),
        scope=budget.scope,
        endpoint_id=str(budget.endpoint_id or ""),
        person=budget.person,
        period_start=start.timestamp(),
        reset_at=end.timestamp(),
        spend_cents=cents(spend),
        limit_cents=cents(budget.limit_cents),
        blocked=blocked,
        message=budget_message(budget, spend, end, time_zone) if blocked else "",
    )
    state.publish(budget_state)
    _alerts_open(budget, spend, start)
    return budget_state


def _alerts_open(budget: Budget, spend: Decimal, period_start: datetime) -> None:
    """One alert per threshold crossed in this period, whatever the number of writers
    (a unique row), each delivered to every destination of the organization by Celery."""
    if not budget.amount_cents:
        return
    percent = spend * 100 / budget.amount_cents
    for threshold in sorted(set(budget.thresholds)):
        if percent < threshold:
            break
        try:
            with transaction.atomic():
                alert = BudgetAlert.objects.create(
                    budget=budget, period_start=period_start, threshold=threshold, spend_cents=spend
                )
        except IntegrityError:
            continue  # already alerted this period
        deliveries = AlertDelivery.objects.bulk_create(
            AlertDelivery(alert=alert, destination=destination)
            for destination in AlertDestination.objects.filter(organization_id=budget.organization_id)
        )
        from budgets.tasks import alert_deliver

        for delivery in deliveries:
            transaction.on_commit(lambda pk=delivery.pk: alert_deliver.delay(pk))


def budgets_after_logs(logs) -> None:
    """After the usage writer wrote `logs`: refresh every budget that covers one of them."""
    by_organization: dict[str, list] = {}
    for log in logs:
        by_organization.setdefault(str(log.organization_id), []).append(log)
    budgets = Budget.objects.filter(organization_id__in=by_organization).select_related("organization")
    for budget in budgets:
        organization_logs = by_organization[str(budget.organization_id)]
        if any(budget_covers(budget, endpoint_id=log.endpoint_id, person=log.person) for log in organization_logs):
            try:
                budget_refresh(budget)
            except Exception:  # noqa: BLE001 - usage is written; a budget's state waits for the next batch
                logger.exception("budget %s could not be brought up to date", budget.id)
