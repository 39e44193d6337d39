"""The daily totals (UsageDaily) the dashboard and whole-day summaries read instead of logs."""

from django.db import IntegrityError, transaction
from django.db.models import F

from usage.cost_parts import per_model, stored_parts
from usage.models import UsageDaily, UsageLog
from usage.pricing import cache_savings_compute
from usage.selectors.logs import usage_log_token_usage

# The per-call values a day's row adds up, named alike on UsageLog and UsageDaily.
DAILY_SUMS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "duration_ms",
)


def _daily_values(log: UsageLog, savings) -> dict:
    values = {field: getattr(log, field) for field in DAILY_SUMS}
    values["calls"] = 1
    values["error_calls"] = int(log.outcome != UsageLog.Outcome.OK)
    values["unpriced_calls"] = int(log.unpriced)
    values["cost_cents"] = log.cost_cents or 0
    values["cache_savings_cents"] = savings or 0
    return values


def _contributions(log: UsageLog, usage) -> list[tuple[str, dict]]:
    """What one log adds to its day, per model.

    A call with parts beyond its top-level usage (UsageLog.multi_part) adds each part's
    tokens and cost under the model that ran it: an advisor's under the advisor's model,
    compaction's under the request's. The call itself (calls, errors, unpriced, reasoning
    tokens, duration) counts once, under the log's model.
    """
    if not log.multi_part:
        savings = (
            cache_savings_compute(model=log.model, usage=usage, at=log.started_at)
            if usage.cache_read_tokens
            else None
        )
        return [(log.model, _daily_values(log, savings))]
    models = per_model(
        stored_parts(log.cost_parts),
        priced=log.cost_cents is not None,
        at=log.started_at,
        inference_geo=log.inference_geo,
    )
    rows = []
    for model in [log.model, *(m for m in models if m != log.model)]:
        sums = models.get(model) or {}
        values = _daily_values(log, 0) if model == log.model else dict.fromkeys(_DAILY_FIELDS, 0)
        for field in _PART_SUMS:
            values[field] = sums.get(field, 0)
        rows.append((model, values))
    return rows


# What a day's row adds up besides the per-call counts; parts give these per model.
_PART_SUMS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "web_search_requests",
    "cost_cents",
    "cache_savings_cents",
)
_DAILY_FIELDS = (*DAILY_SUMS, "calls", "error_calls", "unpriced_calls", "cost_cents", "cache_savings_cents")


def usage_daily_add(logs_and_usage) -> None:
    """Add logs to their days' totals: one update (or the day's first row) per key."""
    totals: dict[tuple, dict] = {}
    endpoints: dict[tuple, object] = {}
    for log, usage in logs_and_usage:
        for model, values in _contributions(log, usage):
            key = (log.organization_id, log.started_at.date(), log.endpoint_slug, log.provider, model)
            if key in totals:
                for field, value in values.items():
                    totals[key][field] += value
            else:
                totals[key] = values
                endpoints[key] = log.endpoint_id
    for key, values in totals.items():
        lookup = dict(zip(("organization_id", "day", "endpoint_slug", "provider", "model"), key))
        increments = {field: F(field) + value for field, value in values.items()}
        if UsageDaily.objects.filter(**lookup).update(**increments):
            continue
        try:
            with transaction.atomic():
                UsageDaily.objects.create(**lookup, endpoint_id=endpoints[key], **values)
        except IntegrityError:
            # Another writer created the day's row first.
            UsageDaily.objects.filter(**lookup).update(**increments)


def usage_daily_rebuild(*, since=None) -> int:
    """Recompute the daily totals from the logs (all days, or from `since` on)."""
    logs = UsageLog.objects.order_by()
    days = UsageDaily.objects.all()
    if since is not None:
        logs = logs.filter(started_at__date__gte=since)
        days = days.filter(day__gte=since)
    rows: dict[tuple, UsageDaily] = {}
    for log in logs.iterator(chunk_size=2000):
        for model, values in _contributions(log, usage_log_token_usage(log)):
            key = (log.organization_id, log.started_at.date(), log.endpoint_slug, log.provider, model)
            row = rows.get(key)
            if row is None:
                row = rows[key] = UsageDaily(
                    organization_id=key[0], day=key[1], endpoint_slug=key[2], provider=key[3],
                    model=key[4], endpoint_id=log.endpoint_id,
                )
            for field, value in values.items():
                setattr(row, field, getattr(row, field) + value)
    with transaction.atomic():
        days.delete()
        UsageDaily.objects.bulk_create(rows.values(), batch_size=1000)
    return len(rows)
