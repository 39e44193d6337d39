"""The daily totals (UsageDaily) the dashboard and whole-day summaries read instead of logs."""

from django.db import connection, transaction

from usage.cost_parts import per_model, stored_parts
from usage.models import UsageDaily, UsageLog
from usage.pricing import cache_savings_compute
from usage.selectors.logs import usage_log_token_usage
from usage.selectors.retention import retention_rebuild_scope

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


def log_contributions(log: UsageLog, usage) -> list[tuple[str, dict]]:
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


def usage_daily_add(contributed) -> None:
    """Add logs to their days' totals, given each log with its `log_contributions`: one
    update (or the day's first row) per key."""
    totals: dict[tuple, dict] = {}
    endpoints: dict[tuple, object] = {}
    for log, contributions in contributed:
        for model, values in contributions:
            key = (log.organization_id, log.started_at.date(), log.endpoint_slug, log.provider, model)
            totals_accumulate(totals, key, values)
            endpoints.setdefault(key, log.endpoint_id)
    totals_upsert(
        UsageDaily, _DAILY_KEY, totals, create=lambda key: {"endpoint_id": endpoints[key]}
    )


_DAILY_KEY = ("organization_id", "day", "endpoint_slug", "provider", "model")


def totals_accumulate(totals: dict[tuple, dict], key: tuple, values: dict) -> None:
    if key in totals:
        row = totals[key]
        for field, value in values.items():
            row[field] += value
    else:
        totals[key] = dict(values)


def totals_upsert(model, key_fields: tuple[str, ...], totals: dict[tuple, dict], *, create=None) -> None:
    """Add each key's values to its row of `model` (made when missing): one statement,
    INSERT … ON CONFLICT (the key) DO UPDATE SET f = f + excluded.f, on SQLite and
    PostgreSQL alike. `create(key)` gives the other columns of a new row.

    Rows are taken in key order, so that concurrent writers lock them in the same order
    and never deadlock.
    """
    if not totals:
        return
    keys = sorted(totals, key=lambda k: tuple(str(part) for part in k))
    sums = tuple(totals[keys[0]])
    extra = tuple(create(keys[0])) if create else ()
    columns = [model._meta.get_field(name) for name in (*key_fields, *extra, *sums)]
    params = []
    for key in keys:
        values = (*key, *(create(key).values() if create else ()), *(totals[key][name] for name in sums))
        params.extend(field.get_db_prep_save(value, connection) for field, value in zip(columns, values))
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    increments = ", ".join(
        f"{quote(column)} = {table}.{quote(column)} + excluded.{quote(column)}"
        for column in (model._meta.get_field(name).column for name in sums)
    )
    conflict = ", ".join(quote(model._meta.get_field(name).column) for name in key_fields)

    def sql_for(count: int) -> str:
        return (
            f"INSERT INTO {table} ({', '.join(quote(field.column) for field in columns)}) "
            f"VALUES {', '.join([placeholders] * count)} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {increments}"
        )
    with connection.cursor() as cursor:
        for start in range(0, len(keys), _UPSERT_ROWS):
            chunk = keys[start:start + _UPSERT_ROWS]
            cursor.execute(
                sql_for(len(chunk)), params[start * len(columns):(start + len(chunk)) * len(columns)]
            )


# Rows a statement: well under SQLite's 32,766 parameters with a row's dozen columns.
_UPSERT_ROWS = 500


def usage_daily_rebuild(*, since=None) -> int:
    """Recompute the daily totals from the logs (all days, or from `since` on); the days
    whose logs retention deleted keep their totals."""
    logs = UsageLog.objects.order_by()
    days = UsageDaily.objects.all()
    if since is not None:
        logs = logs.filter(started_at__date__gte=since)
        days = days.filter(day__gte=since)
    logs, days = retention_rebuild_scope(logs, days)
    rows: dict[tuple, UsageDaily] = {}
    for log in logs.iterator(chunk_size=2000):
        for model, values in log_contributions(log, usage_log_token_usage(log)):
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
