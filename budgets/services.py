"""Budgets change here: created, changed, deleted, and brought up to date after usage is
written (their spend, their block, the alerts their thresholds owe)."""

import logging
import time
import uuid
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, Organization
from accounts.services import organization_time_zone_set
from budgets import state
from budgets.models import AlertDelivery, AlertDestination, Budget, BudgetAlert
from budgets.periods import period_bounds
from budgets.selectors import budget_covers, budget_spend
from budgets.signals import alert_deliveries_opened
from proxy.models import ProxyEndpoint
from usage.models import UsageLog
from usage.money import cents

logger = logging.getLogger("codecosts.budgets")


def _changed(budget: Budget) -> None:
    """This process reads the organization's budgets again; the budget's state follows."""
    _budgets_read.pop(str(budget.organization_id), None)
    transaction.on_commit(lambda: budget_refresh(budget))


def budget_create(*, organization, **fields) -> Budget:
    budget = Budget.objects.create(organization=organization, **fields)
    _changed(budget)
    return budget


def budget_update(*, budget: Budget, **fields) -> Budget:
    for name, value in fields.items():
        setattr(budget, name, value)
    budget.save()
    _changed(budget)
    return budget


def budget_delete(*, budget: Budget) -> None:
    budget_id = str(budget.id)
    _budgets_read.pop(str(budget.organization_id), None)
    budget.delete()
    transaction.on_commit(lambda: state.forget(budget_id))


def budget_fields(*, organization: Organization, values: dict, budget: Budget | None = None) -> dict:
    """The model fields of a budget from the API's (and the page's) typed input.

    `values` is what budgets.serializers.BudgetInputSerializer validated (dollars as
    Decimals, `endpoint` an id or a slug); with `budget`, a change: what `values` leaves
    out stays. An endpoint belongs to a budget of scope endpoint only, a person to one of
    scope person. Raises ValidationError keyed by the input's field names.
    """
    fields, errors = {}, {}
    for name in ("name", "period", "thresholds", "hard_limit"):
        if name in values:
            fields[name] = values[name]
    if "amount_usd" in values:
        fields["amount_cents"] = values["amount_usd"] * 100
    if "hard_limit_usd" in values:
        usd = values["hard_limit_usd"]
        fields["hard_limit_cents"] = None if usd is None else usd * 100
    scope = values.get("scope") or (budget.scope if budget else Budget.Scope.ORGANIZATION)
    fields["scope"] = scope

    given = (values.get("endpoint") or "").strip()
    if scope == Budget.Scope.ENDPOINT:
        if given:
            fields["endpoint"] = _endpoint_of(organization, given)
            if fields["endpoint"] is None:
                errors["endpoint"] = f"endpoint {given!r} is not an endpoint of {organization.name}"
        elif budget is None or budget.endpoint_id is None or "endpoint" in values:
            errors["endpoint"] = "endpoint is required when scope is endpoint (its id or slug)"
    elif given:
        errors["endpoint"] = "endpoint is only for a budget of scope endpoint"
    else:
        fields["endpoint"] = None

    person = (values.get("person") or "").strip()
    if scope == Budget.Scope.PERSON:
        if person:
            fields["person"] = person
        elif budget is None or not budget.person or "person" in values:
            errors["person"] = (
                "person is required when scope is person (a key's name or an x-codecosts-user value)"
            )
    elif person:
        errors["person"] = "person is only for a budget of scope person"
    else:
        fields["person"] = ""
    if errors:
        raise ValidationError(errors, code="invalid")
    return fields


def _endpoint_of(organization: Organization, id_or_slug: str) -> ProxyEndpoint | None:
    endpoints = ProxyEndpoint.objects.filter(organization=organization)
    try:
        return endpoints.get(id=uuid.UUID(id_or_slug))
    except (ValueError, ProxyEndpoint.DoesNotExist):
        return endpoints.filter(slug=id_or_slug).first()


def budgets_time_zone_set(*, organization: Organization, time_zone: str) -> Organization:
    """Set the organization's time zone; its budgets' periods, spend and blocks follow."""
    organization = organization_time_zone_set(organization=organization, time_zone=time_zone)
    transaction.on_commit(lambda: budgets_zone_follow(organization))
    return organization


def budgets_zone_follow(organization: Organization) -> None:
    """After the organization's time zone changed (here, or through /api/organization:
    budgets.receivers): recount its budgets in their new periods and publish them."""
    _budgets_read.pop(str(organization.pk), None)
    for budget in Budget.objects.filter(organization=organization).select_related("organization"):
        budget_refresh(budget)


def budget_refresh(budget: Budget, *, now: datetime | None = None) -> state.BudgetState | None:
    """Recompute a budget's spend in its current period from the usage tables (plus the
    calls still pending: ended, their logs not yet written), publish the state of a
    hard-limited one and open the alerts of the thresholds it has crossed."""
    now = now or timezone.now()
    time_zone = budget.organization.time_zone
    start, end = period_bounds(budget.period, time_zone, now)
    counted = budget_spend(budget, start, end)
    if not budget.hard_limit:
        _recent[str(budget.id)] = (time.monotonic(), counted)
        state.forget(str(budget.id))
        _alerts_open(budget, counted, start)
        return None
    held = state.BudgetState(
        budget_id=str(budget.id),
        organization_id=str(budget.organization_id),
        name=budget.name,
        period=budget.period,
        time_zone=time_zone,
        scope=budget.scope,
        endpoint_id=str(budget.endpoint_id or ""),
        person=budget.person,
        key_ids=_keys_naming(budget),
        period_start=start.timestamp(),
        reset_at=end.timestamp(),
        counted_cents=cents(counted),
        spend_cents=cents(counted),
        limit_cents=cents(budget.limit_cents),
        blocked=False,
    )
    pending = state.pending_settle(held, _written)
    _recent[str(budget.id)] = (time.monotonic(), counted)
    held = held.with_spend(counted + pending)
    state.publish(held)
    _alerts_open(budget, counted, start)
    return held


def _keys_naming(budget: Budget) -> list[str]:
    """The keys whose calls are a person budget's: those named after the person."""
    if budget.scope != Budget.Scope.PERSON:
        return []
    keys = ApiKey.objects.filter(organization_id=budget.organization_id, revoked_at__isnull=True)
    return [str(pk) for pk, name, prefix in keys.values_list("id", "name", "display_prefix")
            if (name or f"{prefix}…") == budget.person]


def _written(log_ids: list[str]) -> list[str]:
    """Which of these calls' logs are written (their spend is counted)."""
    return [str(pk) for pk in UsageLog.objects.filter(id__in=log_ids).values_list("id", flat=True)]


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
        ids = [delivery.pk for delivery in deliveries]
        if ids:
            transaction.on_commit(
                lambda ids=ids: alert_deliveries_opened.send(sender=BudgetAlert, delivery_ids=ids)
            )


# A budget is recounted after a batch at most this often per process, unless the batch
# takes it across a threshold or its limit: between recounts its calls stay pending
# (budgets.provisional), so the published spend stays right; beat recounts every minute.
REFRESH_SECONDS = 1.0
_recent: dict[str, tuple[float, Decimal]] = {}  # budget id -> (when recounted, counted)


def budgets_after_logs(logs) -> None:
    """After the usage writer wrote `logs`: refresh the budgets that cover one of them."""
    by_organization: dict[str, list] = {}
    for log in logs:
        by_organization.setdefault(str(log.organization_id), []).append(log)
    for budget in _budgets_of(by_organization):
        covered = [
            log for log in by_organization[str(budget.organization_id)]
            if budget_covers(budget, endpoint_id=log.endpoint_id, person=log.person)
        ]
        if not covered or not _due(budget, sum((log.cost_cents or 0 for log in covered), Decimal(0))):
            continue
        try:
            budget_refresh(budget)
        except Exception:  # noqa: BLE001 - usage is written; a budget's state waits for the next batch
            logger.exception("budget %s could not be brought up to date", budget.id)


_budgets_read: dict[str, tuple[float, list[Budget]]] = {}  # organization id -> (when, budgets)


def _budgets_of(organization_ids) -> list[Budget]:
    """The organizations' budgets, read at most once a second per process (a batch every
    50 ms would otherwise ask each time); a budget changed here is read again at once."""
    now = time.monotonic()
    stale = [org for org in organization_ids if now - _budgets_read.get(org, (-REFRESH_SECONDS, []))[0] >= REFRESH_SECONDS]
    if stale:
        fresh: dict[str, list[Budget]] = {org: [] for org in stale}
        for budget in Budget.objects.filter(organization_id__in=stale).select_related("organization"):
            fresh[str(budget.organization_id)].append(budget)
        _budgets_read.update((org, (now, budgets)) for org, budgets in fresh.items())
    return [budget for org in organization_ids for budget in _budgets_read[org][1]]


def _due(budget: Budget, added: Decimal) -> bool:
    """Whether to recount now: not for a while, or this batch crosses a threshold or the limit."""
    recent = _recent.get(str(budget.id))
    if recent is None or time.monotonic() - recent[0] >= REFRESH_SECONDS:
        return True
    counted = recent[1]
    marks = [budget.amount_cents * threshold / 100 for threshold in budget.thresholds]
    if budget.hard_limit:
        marks.append(budget.limit_cents)
    return any(counted < mark <= counted + added for mark in marks)


def budgets_refresh_all() -> int:
    """Recount and publish every hard-limited budget: what rebuilds their states after
    Redis lost them or a local server restarted, and moves them into a new period when
    no call has yet (Celery beat runs it every minute; a local server at its start)."""
    refreshed = 0
    for budget in Budget.objects.filter(hard_limit=True).select_related("organization").iterator():
        try:
            budget_refresh(budget)
            refreshed += 1
        except Exception:  # noqa: BLE001 - one budget's failure never stops the others
            logger.exception("budget %s could not be brought up to date", budget.id)
    return refreshed
