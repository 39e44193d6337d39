"""Totals of an organization's calls in a time range, grouped by endpoint, model, day,
session, person, request class, agent type, tag or a property: from the daily totals and
rollups for the range's whole days, from the logs for the parts of days at its ends."""

from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    OuterRef,
    Subquery,
    Sum,
    UUIDField,
    Value,
)
from django.db.models.functions import Cast, NullIf, Replace, TruncDate

from accounts.models import Organization
from proxy.models import ProxyEndpoint
from usage.cost_parts import per_model, stored_parts
from usage.models import Session, UsageDaily, UsageLog, UsageLogLabel, UsageRollup
from usage.time_range import TimeRange, day_end, day_start

GROUP_BY_CHOICES = ("endpoint", "model", "day", "session", "person", "request_class", "agent_type", "tag")
# group_by=property:<name> groups by one property's values.
PROPERTY_GROUP = "property:"
# Kept per day by the worker (UsageRollup); the others by UsageDaily.
ROLLUP_GROUPS = ("session", "person", "request_class", "agent_type", "tag")

# Token classes summed: UsageLog, UsageDaily and Session name them alike.
TOKEN_SUMS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
)
SUMMARY_SUMS = ("calls", *TOKEN_SUMS, "cost_cents")


def _aggregates(calls, prefix: str = "") -> dict:
    """The sums, read from UsageDaily or UsageRollup rows (which count their calls),
    UsageLog rows or their labels' logs (`prefix`). PostgreSQL sums bigint columns as
    numeric: cast back, or every token count is read as a Decimal (a month's thousands
    of sessions spent a third of their time on that)."""
    tokens = {name: Cast(Sum(prefix + name), BigIntegerField()) for name in TOKEN_SUMS}
    return {"calls": calls, **tokens, "cost_cents": Sum(prefix + "cost_cents")}


_DAILY_AGGREGATES = _aggregates(Sum("calls"))
_LOG_AGGREGATES = _aggregates(Count("id"))
_LABEL_AGGREGATES = _aggregates(Count("log_id"), prefix="log__")


def group_by_is_valid(group_by: str) -> bool:
    if group_by.startswith(PROPERTY_GROUP):
        return bool(group_by[len(PROPERTY_GROUP):]) and len(group_by) <= 73
    return group_by in GROUP_BY_CHOICES


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
    """Totals of the organization's calls in a time range, grouped by `group_by`, and overall.

    The range's whole UTC days are read from the daily totals (endpoint, model, day) or
    the rollups (the others): fast however many calls there are. Only the parts of days
    at its ends (a range from 09:30, say) are read from the logs. Calls without a
    session, person, request class, agent type or tag are one row whose key is None; a
    call with two tags counts under both. For a property, calls without it are the row
    whose key is None. Rows are ordered by cost, highest first; days oldest first.
    """
    if not group_by_is_valid(group_by):
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY_CHOICES)} or property:<name>")
    whole_days, part_days = _split(time_range)
    totals, by_key = _sums({}), {}
    what = dict(organization=organization, group_by=group_by)
    if whole_days is not None:
        _merge(totals, by_key, *_from_days(**what, time_range=whole_days))
    for part in part_days:
        _merge(totals, by_key, *_from_logs(**what, time_range=part))
    rows = list(by_key.values())
    if group_by.startswith(PROPERTY_GROUP):
        _add_unset_row(rows, totals)
    _label(rows, organization=organization, group_by=group_by)
    if group_by == "day":
        rows.sort(key=lambda row: row.key)
    else:
        rows.sort(key=lambda row: (-row.sums["cost_cents"], -row.sums["calls"], str(row.key)))
    return Summary(group_by=group_by, time_range=time_range, rows=rows, totals=totals)


def _split(time_range: TimeRange) -> tuple[TimeRange | None, list[TimeRange]]:
    """The range's whole UTC days (None: not one) and the parts of days at its ends."""
    if time_range.whole_days:
        return time_range, []
    since, until = time_range.since, time_range.until
    first, last = since, until
    if since is not None and not _is_midnight(since):
        first = day_end(since.astimezone(UTC).date())
    if until is not None and not _is_midnight(until):
        last = day_start(until.astimezone(UTC).date())
    if first is not None and last is not None and first >= last:
        return None, [time_range]  # inside a day, or two parts of days back to back
    parts = []
    if since is not None and since != first:
        parts.append(TimeRange(since=since, until=first))
    if until is not None and until != last:
        parts.append(TimeRange(since=last, until=until))
    return TimeRange(since=first, until=last), parts


def _is_midnight(moment: datetime) -> bool:
    return moment.astimezone(UTC).time() == time(0)


def _from_days(
    *, organization: Organization, group_by: str, time_range: TimeRange
) -> tuple[dict, list[SummaryRow]]:
    """Totals and rows of whole days, from the daily totals and the rollups."""
    daily = time_range.filter_days(UsageDaily.objects.filter(organization=organization))
    # The daily totals give the same sums without a pass over the logs.
    totals = _sums(daily.order_by().aggregate(**_DAILY_AGGREGATES))
    if group_by in ROLLUP_GROUPS or group_by.startswith(PROPERTY_GROUP):
        rows_qs = time_range.filter_days(
            UsageRollup.objects.filter(organization=organization, dimension=group_by)
        )
        grouped = rows_qs.order_by().values("key").annotate(**_DAILY_AGGREGATES)
        if group_by == "session":
            # Named in the same query: a month has thousands of sessions, too many to
            # send back as a list of ids.
            grouped = grouped.annotate(name=_session_name(organization, "key"))
        rows = _rows(grouped, "key", label_field="name" if group_by == "session" else None)
    else:
        group_field = {"endpoint": "endpoint_slug", "model": "model", "day": "day"}[group_by]
        rows = _rows(daily.order_by().values(group_field).annotate(**_DAILY_AGGREGATES), group_field)
    return totals, rows


def _from_logs(
    *, organization: Organization, group_by: str, time_range: TimeRange
) -> tuple[dict, list[SummaryRow]]:
    """Totals and rows of a range of any bounds, from the logs."""
    logs = time_range.filter(UsageLog.objects.filter(organization=organization))
    totals = _sums(logs.order_by().aggregate(**_LOG_AGGREGATES))
    if group_by == "tag" or group_by.startswith(PROPERTY_GROUP):
        rows = _label_rows(logs, organization=organization, group_by=group_by, time_range=time_range)
        return totals, rows
    if group_by == "day":
        logs = logs.annotate(call_day=TruncDate("started_at", tzinfo=UTC))
    group_field = {"endpoint": "endpoint_slug", "day": "call_day", "session": "session_id"}.get(group_by, group_by)
    rows = _rows(logs.order_by().values(group_field).annotate(**_LOG_AGGREGATES), group_field)
    if group_by == "model":
        # Daily totals already count each part under its model; here, the logs do it.
        _count_parts_under_their_models(rows, logs.filter(multi_part=True))
    if group_by == "session":
        for row in rows:
            row.key = str(row.key) if row.key is not None else None  # as the rollups key them
    return totals, rows


def _merge(totals: dict, by_key: dict, part_totals: dict, part_rows: list[SummaryRow]) -> None:
    """Add one part of the range (its whole days, or a part of a day) to the summary."""
    for name in SUMMARY_SUMS:
        totals[name] += part_totals[name]
    for row in part_rows:
        key = None if row.key == "" else row.key  # no person, session, tag…: one row, keyed None
        kept = by_key.get(key)
        if kept is None:
            row.key = key
            by_key[key] = row
            continue
        for name in SUMMARY_SUMS:
            kept.sums[name] += row.sums[name]
        kept.label = kept.label or row.label


def _rows(grouped, group_field: str, *, label_field: str | None = None) -> list[SummaryRow]:
    return [
        SummaryRow(
            key=row[group_field],
            label=row[label_field] if label_field else None,
            sums=_sums(row),
        )
        for row in grouped
    ]


def _session_name(organization: Organization, key: str) -> Subquery:
    """The name of the session whose id a rollup's `key` holds (as text: str() of the
    UUID; "" for calls outside sessions, which have no name)."""
    session_id = Cast(NullIf(Replace(OuterRef(key), Value("-"), Value("")), Value("")), UUIDField())
    sessions = Session.objects.filter(organization=organization, id=session_id)
    return Subquery(sessions.values("name")[:1])


def _label_rows(
    logs, *, organization: Organization, group_by: str, time_range: TimeRange
) -> list[SummaryRow]:
    """Rows per tag (untagged calls as one) or per value of a property, from the logs.

    A label has its log's organization and started_at, so the labels of the range are
    found on the label index (not by matching the range's log ids); untagged calls are
    those with NOT EXISTS a tag label (not NOT IN every tag label of the organization).
    """
    labels = time_range.filter(UsageLogLabel.objects.filter(organization=organization))
    if group_by == "tag":
        labels = labels.filter(kind=UsageLogLabel.Kind.TAG, name="")
    else:
        labels = labels.filter(kind=UsageLogLabel.Kind.PROPERTY, name=group_by[len(PROPERTY_GROUP):])
    rows = _rows(labels.order_by().values("value").annotate(**_LABEL_AGGREGATES), "value")
    if group_by == "tag":
        tagged = UsageLogLabel.objects.filter(log_id=OuterRef("id"), kind=UsageLogLabel.Kind.TAG)
        untagged = logs.exclude(Exists(tagged)).order_by().aggregate(**_LOG_AGGREGATES)
        if untagged["calls"]:
            rows.append(SummaryRow(key=None, label=None, sums=_sums(untagged)))
    return rows


def _add_unset_row(rows: list[SummaryRow], totals: dict) -> None:
    """Calls without the property: the totals less its values' rows (one value a call)."""
    unset = {name: totals[name] - sum(row.sums[name] for row in rows) for name in SUMMARY_SUMS}
    if unset["calls"]:
        rows.append(SummaryRow(key=None, label=None, sums=unset))


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
        # Those the rollups did not name: sessions with calls only in parts of days.
        unnamed = [row.key for row in rows if row.key is not None and row.label is None]
        if not unnamed:
            return
        sessions = Session.objects.filter(organization=organization, id__in=unnamed)
        names = {str(pk): name for pk, name in sessions.values_list("id", "name")}
        for row in rows:
            if row.key is not None and row.label is None:
                row.label = names.get(row.key)
