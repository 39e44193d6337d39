"""Reads of the usage app: usage logs, their bodies, summaries and work sessions.

Time ranges are half-open, `since <= started_at < until`, in UTC (see `TimeRange`).
"""

import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import orjson
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Organization
from providers.registry import PROVIDERS
from proxy.models import ProxyEndpoint
from usage.models import Session, UsageDaily, UsageLog, UsageLogBody
from usage.pricing import cost_breakdown
from usage.records import TokenUsage

# --- Sessions -------------------------------------------------------------------------


def session_active(*, organization: Organization, endpoint: ProxyEndpoint | None = None):
    """Return the active manual session of exactly this scope, or None.

    The scope is the endpoint, or with `endpoint=None` the whole organization: an
    organization-wide session is not returned for an endpoint, nor the reverse. See
    `session_current` for the session a call would join.
    """
    scope = Q(endpoint__isnull=True) if endpoint is None else Q(endpoint=endpoint)
    return (
        Session.objects.filter(
            scope, organization=organization, source=Session.Source.MANUAL, ended_at__isnull=True
        )
        .order_by("-started_at", "-id")
        .first()
    )


def manual_sessions_overlapping(*, organization_id, since: datetime, until: datetime) -> list[Session]:
    """The organization's manual sessions running at some moment between since and until."""
    return list(
        Session.objects.filter(
            organization_id=organization_id, source=Session.Source.MANUAL, started_at__lte=until
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since))
        .order_by("-started_at", "-id")
    )


def session_pick(candidates: list[Session], *, endpoint_id, at: datetime) -> Session | None:
    """Of manual sessions (newest first), the one a call made at `at` on `endpoint_id` joins.

    That is one running at `at` (started at or before it, not ended by then): the
    endpoint's own first, else the organization-wide one; the latest started if two overlap.
    """
    organization_wide = None
    for session in candidates:
        if session.started_at > at or (session.ended_at is not None and session.ended_at <= at):
            continue
        if session.endpoint_id is None:
            organization_wide = organization_wide or session
        elif str(session.endpoint_id) == str(endpoint_id):
            return session
    return organization_wide


def session_for_call(*, organization_id, endpoint_id, at: datetime) -> Session | None:
    """Return the manual session a call made at `at` on `endpoint_id` joins, or None."""
    candidates = manual_sessions_overlapping(organization_id=organization_id, since=at, until=at)
    return session_pick(candidates, endpoint_id=endpoint_id, at=at)


def session_current(
    *, organization: Organization, endpoint: ProxyEndpoint | None = None
) -> Session | None:
    """Return the manual session a call on `endpoint` would join now, or None.

    With `endpoint=None`, only an organization-wide session counts.
    """
    return session_for_call(
        organization_id=organization.pk,
        endpoint_id=endpoint.pk if endpoint is not None else None,
        at=timezone.now(),
    )


def session_list(*, queryset: QuerySet[Session]) -> QuerySet[Session]:
    """Sessions with what their representation reads (the endpoint's slug)."""
    return queryset.select_related("endpoint")


def proxy_endpoint_for_reference(
    *, organization: Organization, reference: str
) -> ProxyEndpoint | None:
    """Return the organization's endpoint with this id or slug, or None."""
    endpoints = ProxyEndpoint.objects.filter(organization=organization)
    try:
        endpoint_id = uuid.UUID(str(reference))
    except ValueError:
        return endpoints.filter(slug=reference).first()
    return endpoints.filter(id=endpoint_id).first()


# --- Time ranges ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeRange:
    """`since <= started_at < until` in UTC; either bound may be open (None)."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def whole_days(self) -> bool:
        """Whether both bounds fall on UTC midnight, so daily totals answer exactly."""
        return all(
            bound is None or bound.astimezone(UTC).time() == time(0)
            for bound in (self.since, self.until)
        )

    def filter(self, queryset: QuerySet, field: str = "started_at") -> QuerySet:
        if self.since is not None:
            queryset = queryset.filter(**{f"{field}__gte": self.since})
        if self.until is not None:
            queryset = queryset.filter(**{f"{field}__lt": self.until})
        return queryset

    def filter_days(self, queryset: QuerySet) -> QuerySet:
        """Narrow UsageDaily rows; only exact when `whole_days`."""
        if self.since is not None:
            queryset = queryset.filter(day__gte=self.since.astimezone(UTC).date())
        if self.until is not None:
            queryset = queryset.filter(day__lt=self.until.astimezone(UTC).date())
        return queryset


def day_start(day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def day_end(day) -> datetime:
    """The first instant after `day` (UTC): an exclusive bound that includes the whole day."""
    return day_start(day) + timedelta(days=1)


# --- Usage logs -------------------------------------------------------------------------

# The columns a log list reads: never the bodies, nor the long error message.
USAGE_LOG_LIST_FIELDS = (
    "id",
    "organization_id",
    "endpoint_id",
    "endpoint_slug",
    "session_id",
    "provider",
    "path",
    "model",
    "request_model",
    "streamed",
    "status_code",
    "outcome",
    "incomplete",
    "usage_missing",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_input_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "web_fetch_requests",
    "inference_geo",
    "service_tier",
    "cost_cents",
    "unpriced",
    "started_at",
    "duration_ms",
    "ttfb_ms",
    "upstream_request_id",
    "user_agent",
    "key_hint",
    "claude_code_session_id",
)

# The `session` filter's value for calls outside any session.
NO_SESSION = "none"


def usage_log_list(
    *,
    queryset: QuerySet[UsageLog],
    endpoint: str = "",
    model: str = "",
    outcome: str = "",
    session: uuid.UUID | str | None = None,
    time_range: TimeRange = TimeRange(),
) -> QuerySet[UsageLog]:
    """Narrow logs by the list filters; only the list's columns, never a join to the bodies.

    `endpoint` is an endpoint id or slug (a slug also finds calls of a since-deleted
    endpoint); `session` a session id or NO_SESSION. Empty values do not filter.
    """
    queryset = queryset.only(*USAGE_LOG_LIST_FIELDS)
    if endpoint:
        try:
            queryset = queryset.filter(endpoint_id=uuid.UUID(endpoint))
        except ValueError:
            queryset = queryset.filter(endpoint_slug=endpoint)
    if model:
        queryset = queryset.filter(model=model)
    if outcome:
        queryset = queryset.filter(outcome=outcome)
    if session == NO_SESSION:
        queryset = queryset.filter(session__isnull=True)
    elif session:
        queryset = queryset.filter(session_id=session)
    return time_range.filter(queryset)


def usage_log_token_usage(log: UsageLog) -> TokenUsage:
    """The TokenUsage a stored log was priced from."""
    cache_5m, cache_1h = log.cache_write_5m_tokens, log.cache_write_1h_tokens
    if cache_5m + cache_1h < log.cache_creation_input_tokens:
        # Only the total was kept: the rest counts as 5-minute writes.
        cache_5m = log.cache_creation_input_tokens - cache_1h
    return TokenUsage(
        model=log.model or log.request_model,
        input_tokens=log.input_tokens,
        output_tokens=log.output_tokens,
        cache_write_5m_tokens=cache_5m,
        cache_write_1h_tokens=cache_1h,
        cache_read_tokens=log.cache_read_input_tokens,
        reasoning_tokens=log.reasoning_tokens,
        web_search_requests=log.web_search_requests,
        web_fetch_requests=log.web_fetch_requests,
        inference_geo=log.inference_geo,
        service_tier=log.service_tier,
        speed=log.speed,
    )


def usage_log_cost_breakdown(log: UsageLog) -> dict[str, Decimal] | None:
    """Cents per token class and server tool at the call's time; None for an unpriced call."""
    if log.cost_cents is None:
        return None
    usage = usage_log_token_usage(log)
    return cost_breakdown(model=usage.model, usage=usage, at=log.started_at, provider=log.provider)


# Which function rebuilds the final response object of a stream, by (provider, path).
_REASSEMBLERS = {
    (spec.provider.value, path): reassemble
    for spec in PROVIDERS.values()
    for path, reassemble in spec.reassemblers.items()
}


@dataclass(frozen=True, slots=True)
class LogBodies:
    """A log's bodies as a reader wants them."""

    request_body: object = None
    response_body: object = None
    # The final message rebuilt from a stream; None for a non-streamed response.
    response_message: dict | None = None
    request_size: int = 0
    response_size: int = 0
    request_truncated: bool = False
    response_truncated: bool = False


def usage_log_bodies(log: UsageLog) -> LogBodies:
    """Decompress and decode a log's bodies: JSON where they are JSON, else text.

    A stream's response stays its raw SSE text, and `response_message` is the final
    message rebuilt from it by the provider's reassembler (as far as the stream went).
    """
    try:
        body = log.body
    except UsageLogBody.DoesNotExist:
        return LogBodies()
    raw_request = _decompress(body.request_body)
    raw_response = _decompress(body.response_body)
    is_stream = log.streamed or body.response_content_type.startswith("text/event-stream")
    response_message = None
    if is_stream:
        response_body = _text(raw_response)
        path = log.path.partition("?")[0]
        reassembler = _REASSEMBLERS.get((log.provider, path.rstrip("/") or "/"))
        if reassembler is not None and raw_response:
            response_message = reassembler(raw_response)
    else:
        response_body = _json_or_text(raw_response)
    return LogBodies(
        request_body=_json_or_text(raw_request),
        response_body=response_body,
        response_message=response_message,
        request_size=body.request_size,
        response_size=body.response_size,
        request_truncated=body.request_truncated,
        response_truncated=body.response_truncated,
    )


def _decompress(stored) -> bytes:
    data = bytes(stored or b"")
    if not data:
        return b""
    try:
        return zlib.decompress(data)
    except zlib.error:
        # Not compressed (a row written by hand): show it as it is.
        return data


def _text(raw: bytes) -> str | None:
    return raw.decode("utf-8", errors="replace") if raw else None


def _json_or_text(raw: bytes):
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Truncated or not JSON at all.
        return _text(raw)


# --- Summary ----------------------------------------------------------------------------

GROUP_BY_CHOICES = ("endpoint", "model", "day", "session")

SUMMARY_SUMS = (
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_cents",
)

# The same sums read from UsageDaily rows or from UsageLog rows.
_DAILY_AGGREGATES = {
    "calls": Sum("calls"),
    "input_tokens": Sum("input_tokens"),
    "output_tokens": Sum("output_tokens"),
    "cache_write_5m_tokens": Sum("cache_write_5m_tokens"),
    "cache_write_1h_tokens": Sum("cache_write_1h_tokens"),
    "cache_read_tokens": Sum("cache_read_tokens"),
    "cost_cents": Sum("cost_cents"),
}
_LOG_AGGREGATES = {
    "calls": Count("id"),
    "input_tokens": Sum("input_tokens"),
    "output_tokens": Sum("output_tokens"),
    "cache_write_5m_tokens": Sum("cache_write_5m_tokens"),
    "cache_write_1h_tokens": Sum("cache_write_1h_tokens"),
    "cache_read_tokens": Sum("cache_read_input_tokens"),
    "cost_cents": Sum("cost_cents"),
}


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
    _label(rows, organization=organization, group_by=group_by)
    if group_by == "day":
        rows.sort(key=lambda row: row.key)
    else:
        rows.sort(key=lambda row: (-row.sums["cost_cents"], -row.sums["calls"], str(row.key)))
    return Summary(group_by=group_by, time_range=time_range, rows=rows, totals=totals)


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
