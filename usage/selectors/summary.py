"""Totals of an organization's calls in a time range, grouped by endpoint, model, day or
session: from the daily totals when the range is whole days, else from the logs."""

from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from accounts.models import Organization
from proxy.models import ProxyEndpoint
from usage.cost_parts import per_model, stored_parts
from usage.models import Session, UsageDaily, UsageLog
from usage.time_range import TimeRange

GROUP_BY_CHOICES = ("endpoint", "model", "day", "session")

# Token classes summed: UsageLog, UsageDaily and Session name them alike.
TOKEN_SUMS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
)
SUMMARY_SUMS = ("calls", *TOKEN_SUMS, "cost_cents")

# The same sums read from UsageDaily rows (which count their calls) or from UsageLog rows.
_DAILY_AGGREGATES = {"calls": Sum("calls")} | {name: Sum(name) for name in SUMMARY_SUMS[1:]}
_LOG_AGGREGATES = {"calls": Count("id")} | {name: Sum(name) for name in SUMMARY_SUMS[1:]}


@dataclass(slots=True)
class SummaryRow:
    key: object
    label: str | None
    sums: dict


@dataclass(slots=True)
class Summary:
    group_by: str
    time_range: TimeRange
    rows: list[SummaryRow]
    totals: dict


def usage_summary(
    *, organization: Organization, group_by: str, time_range: TimeRange = TimeRange()
) -> Summary:
    """Totals of the organization's calls in a time range, grouped by endpoint, model, day
    or session, and overall.

    Endpoint, model and day come from the daily totals when the range is whole UTC days
    (the usual case: fast however many calls there are), else from the logs. Session
    always comes from the logs (a session's calls within the range), with calls outside
    any session as one row whose key is None. Rows are ordered by cost, highest first;
    days oldest first.
    """
    if group_by not in GROUP_BY_CHOICES:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY_CHOICES)}")
    if group_by != "session" and time_range.whole_days:
        rows_qs = time_range.filter_days(UsageDaily.objects.filter(organization=organization))
        aggregates = _DAILY_AGGREGATES
        group_field = {"endpoint": "endpoint_slug", "model": "model", "day": "day"}[group_by]
    else:
        rows_qs = time_range.filter(UsageLog.objects.filter(organization=organization))
        aggregates = _LOG_AGGREGATES
        if group_by == "day":
            rows_qs = rows_qs.annotate(call_day=TruncDate("started_at", tzinfo=UTC))
        group_field = {
            "endpoint": "endpoint_slug",
            "model": "model",
            "day": "call_day",
            "session": "session_id",
        }[group_by]
    grouped = rows_qs.order_by().values(group_field).annotate(**aggregates)
    if time_range.whole_days:
        # The daily totals give the same sums without a second pass over the logs.
        daily = time_range.filter_days(UsageDaily.objects.filter(organization=organization))
        totals = _sums(daily.order_by().aggregate(**_DAILY_AGGREGATES))
    else:
        totals = _sums(rows_qs.order_by().aggregate(**aggregates))
    rows = [SummaryRow(key=row[group_field], label=None, sums=_sums(row)) for row in grouped]
    if group_by == "model" and rows_qs.model is UsageLog:
        # Daily totals already count each part under its model; here, the logs do it.
        _count_parts_under_their_models(rows, rows_qs.filter(multi_part=True))
    _label(rows, organization=organization, group_by=group_by)
    if group_by == "day":
        rows.sort(key=lambda row: row.key)
    else:
        rows.sort(key=lambda row: (-row.sums["cost_cents"], -row.sums["calls"], str(row.key)))
    return Summary(group_by=group_by, time_range=time_range, rows=rows, totals=totals)


def _count_parts_under_their_models(rows: list[SummaryRow], logs) -> None:
    """Move what a call's parts add (an advisor's tokens and cost, say) from the call's
    model to the models that ran them, as usage.services.daily does for whole days."""
    by_model = {row.key: row for row in rows}
    fields = ("model", "cost_cents", "cost_parts", "started_at", "inference_geo", *TOKEN_SUMS)
    for log in logs.only(*fields).iterator(chunk_size=500):
        own = by_model[log.model].sums
        for name in TOKEN_SUMS:
            own[name] -= getattr(log, name)
        own["cost_cents"] -= log.cost_cents or 0
        models = per_model(
            stored_parts(log.cost_parts),
            priced=log.cost_cents is not None,
            at=log.started_at,
            inference_geo=log.inference_geo,
        )
        for model, sums in models.items():
            row = by_model.get(model)
            if row is None:
                row = by_model[model] = SummaryRow(key=model, label=None, sums=_sums({}))
                rows.append(row)
            for name in (*TOKEN_SUMS, "cost_cents"):
                row.sums[name] += sums[name]


def _sums(row: dict) -> dict:
    sums = {name: row.get(name) or 0 for name in SUMMARY_SUMS}
    sums["cost_cents"] = Decimal(sums["cost_cents"])
    return sums


def _label(rows: list[SummaryRow], *, organization: Organization, group_by: str) -> None:
    if group_by == "endpoint":
        names = dict(
            ProxyEndpoint.all_objects.filter(
                organization=organization, slug__in=[row.key for row in rows]
            ).values_list("slug", "name")
        )
        for row in rows:
            # A deleted endpoint's calls keep its slug.
            row.label = names.get(row.key, row.key)
    elif group_by == "session":
        names = dict(
            Session.objects.filter(
                organization=organization, id__in=[row.key for row in rows if row.key]
            ).values_list("id", "name")
        )
        for row in rows:
            row.label = names.get(row.key) if row.key is not None else None
