"""Spend counted as calls end, before their logs are written (in the web process).

The usage writer gives a budget its exact spend after each batch, a few hundred
milliseconds after the calls (the pipeline's linger, the broker, the write). So that a
hard limit does not let that much traffic through, each web process's usage shipper
(usage.pipeline.record_hooks, off the event loop) prices the calls of organizations with
hard-limited budgets as they end, from the usage the proxy read (the request body is
not parsed here: a fast-mode or fallback call is priced at its model's standard rates
until its log is written), adds them to the covering budgets' pending spend (shared in
Redis) and publishes the block as soon as counted + pending reaches the limit. The
writer then replaces a call's pending cost by its logged one (budgets.services).
"""

import logging
from datetime import UTC, datetime
from decimal import Decimal

from budgets import state
from providers.requests import RequestInfo
from usage.cost_parts import call_cost_for
from usage.records import UsageRecord, person_from_header

logger = logging.getLogger("codecosts.budgets")


def _cost(record: UsageRecord) -> Decimal:
    usage = record.usage
    if not usage.seen:
        return Decimal(0)
    at = datetime.fromtimestamp(record.started_at, tz=UTC)
    priced = call_cost_for(
        usage=usage, model=usage.model or record.request_model, at=at,
        provider=record.provider, request=RequestInfo(),
    )
    return priced.total or Decimal(0)


def account(records: list[UsageRecord]) -> None:
    """Count ended calls against the hard-limited budgets covering them."""
    costs: dict[str, dict[str, Decimal]] = {}
    covering: dict[str, state.BudgetState] = {}
    for record in records:
        known = state.known_for(record.organization_id)
        if not known:
            continue
        person = person_from_header(record.attribution.get("x-codecosts-user", ""))
        cost = None
        for held in known.values():
            if not (held.period_start <= record.started_at < held.reset_at):
                continue
            if not held.covers(record.endpoint_id, person, record.api_key_id):
                continue
            cost = _cost(record) if cost is None else cost
            if cost:
                costs.setdefault(held.budget_id, {})[record.id] = cost
                covering[held.budget_id] = held
    if not costs:
        return
    counted = [(covering[budget_id], budget_costs) for budget_id, budget_costs in costs.items()]
    for (held, _), pending in zip(counted, state.pending_add(counted)):
        spend = Decimal(held.counted_cents) + pending
        if spend >= Decimal(held.limit_cents) and not held.blocked:
            state.publish(held.with_spend(spend))
