"""The log and session lists: filters and keyset paging on (started_at, id), never OFFSET."""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q, QuerySet

from accounts.models import Organization
from usage.models import Session, UsageDaily, UsageLog
from usage.reports.money import Money


class CursorError(ValueError):
    pass


def cursor_encode(started_at: datetime, pk) -> str:
    raw = f"{started_at.astimezone(UTC).isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.split("|", 1)
        started_at = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise CursorError("invalid cursor") from error
    if started_at.tzinfo is None or not pk:
        raise CursorError("invalid cursor")
    return started_at, pk


def keyset_page(queryset: QuerySet, *, cursor: str = "", limit: int = 50):
    """One page of `queryset` newest first by (started_at, id); return (items, next_cursor).

    The cursor is the last item's position, so rows added meanwhile never shift a page.
    """
    queryset = queryset.order_by("-started_at", "-id")
    if cursor:
        started_at, pk = cursor_decode(cursor)
        queryset = queryset.filter(
            Q(started_at__lt=started_at) | Q(started_at=started_at, id__lt=pk)
        )
    items = list(queryset[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = cursor_encode(items[-1].started_at, items[-1].pk)
    return items, next_cursor


# Columns a log list shows: never the bodies, which live in UsageLogBody anyway.
LOG_LIST_FIELDS = (
    "id",
    "started_at",
    "endpoint_slug",
    "provider",
    "path",
    "model",
    "request_model",
    "streamed",
    "status_code",
    "outcome",
    "incomplete",
    "unpriced",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cost_cents",
    "duration_ms",
    "ttfb_ms",
    "session_id",
    "session__name",
)


@dataclass(frozen=True)
class LogFilters:
    endpoint_slug: str = ""
    endpoint_id: object = None
    model: str = ""
    outcome: str = ""
    session: Session | None = None
    since: date | None = None
    until: date | None = None


def usage_log_filtered(*, organization: Organization, filters: LogFilters) -> QuerySet[UsageLog]:
    logs = UsageLog.objects.filter(organization=organization)
    if filters.endpoint_id is not None:
        logs = logs.filter(endpoint_id=filters.endpoint_id)
    elif filters.endpoint_slug:
        logs = logs.filter(endpoint_slug=filters.endpoint_slug)
    if filters.model:
        logs = logs.filter(model=filters.model)
    if filters.outcome:
        logs = logs.filter(outcome=filters.outcome)
    if filters.session is not None:
        logs = logs.filter(session=filters.session)
    if filters.since:
        logs = logs.filter(started_at__gte=datetime.combine(filters.since, time.min, tzinfo=UTC))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC)
        logs = logs.filter(started_at__lt=end)
    return logs


def usage_log_page(
    *, organization: Organization, filters: LogFilters, cursor: str = "", limit: int = 50
):
    logs = usage_log_filtered(organization=organization, filters=filters)
    items, next_cursor = keyset_page(
        logs.select_related("session").only(*LOG_LIST_FIELDS), cursor=cursor, limit=limit
    )
    for log in items:
        log.cost = Money(log.cost_cents)
    return items, next_cursor


def usage_log_filter_choices(*, organization: Organization) -> dict:
    """Models and endpoint slugs ever used by the organization (from the daily totals)."""
    daily = UsageDaily.objects.filter(organization=organization)
    return {
        "models": sorted(filter(None, daily.values_list("model", flat=True).distinct())),
        "slugs": sorted(set(daily.values_list("endpoint_slug", flat=True).distinct())),
    }


def session_page(*, organization: Organization, cursor: str = "", limit: int = 50):
    sessions = Session.objects.filter(organization=organization).select_related("endpoint")
    items, next_cursor = keyset_page(sessions, cursor=cursor, limit=limit)
    for session in items:
        session.cost = Money(session.cost_cents)
    return items, next_cursor
