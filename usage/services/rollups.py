"""The attribution rollups (UsageRollup): a day's totals per person, request class, agent
type, session, subagent run, tag and property, kept with the daily totals."""

from django.db import transaction

from usage.models import UsageLog, UsageRollup
from usage.selectors.logs import usage_log_token_usage
from usage.selectors.retention import retention_rebuild_scope
from usage.services.daily import log_contributions, totals_accumulate, totals_upsert

ROLLUP_SUMS = (
    "calls",
    "error_calls",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_cents",
    "cache_savings_cents",
    "duration_ms",
)
_ROLLUP_KEY = ("organization_id", "dimension", "key", "day")


def rollup_keys(log: UsageLog) -> list[tuple[str, str]]:
    """The (dimension, key) rows one log adds to (UsageRollup's docstring)."""
    keys = [
        ("person", log.person),
        ("request_class", log.request_class),
        ("agent_type", log.agent_type),
        ("session", str(log.session_id) if log.session_id else ""),
    ]
    if log.agent_id:
        keys.append(("agent", log.agent_id))
    keys.extend(("tag", tag) for tag in log.tags or [""])
    keys.extend((f"property:{name}", value) for name, value in log.properties.items())
    return keys


def _rollup_values(contributions) -> dict:
    """A log's totals over the models it ran on (the daily totals split them per model)."""
    values = dict.fromkeys(ROLLUP_SUMS, 0)
    for _model, part in contributions:
        for field in ROLLUP_SUMS:
            values[field] += part[field]
    return values


def _add(totals: dict, log: UsageLog, contributions) -> None:
    values = _rollup_values(contributions)
    day = log.started_at.date()
    for dimension, key in rollup_keys(log):
        totals_accumulate(totals, (log.organization_id, dimension, key, day), values)


def usage_rollup_add(contributed) -> None:
    """Add logs (each with its `log_contributions`) to their days' rollups."""
    totals: dict[tuple, dict] = {}
    for log, contributions in contributed:
        _add(totals, log, contributions)
    totals_upsert(UsageRollup, _ROLLUP_KEY, totals)


def usage_rollup_rebuild(*, since=None) -> int:
    """Recompute the rollups from the logs (all days, or from `since` on); the days whose
    logs retention deleted keep theirs."""
    logs = UsageLog.objects.order_by()
    rows = UsageRollup.objects.all()
    if since is not None:
        logs = logs.filter(started_at__date__gte=since)
        rows = rows.filter(day__gte=since)
    logs, rows = retention_rebuild_scope(logs, rows)
    totals: dict[tuple, dict] = {}
    for log in logs.iterator(chunk_size=2000):
        _add(totals, log, log_contributions(log, usage_log_token_usage(log)))
    with transaction.atomic():
        rows.delete()
        UsageRollup.objects.bulk_create(
            (UsageRollup(**dict(zip(_ROLLUP_KEY, key)), **values) for key, values in totals.items()),
            batch_size=1000,
        )
    return len(totals)
