"""The log and session lists: filters and keyset paging on (started_at, id), never OFFSET."""

from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet

from accounts.models import Organization
from codecosts import keyset
from usage.models import Session, UsageDaily, UsageLog
from usage.money import Money
from usage.selectors.logs import USAGE_LOG_LIST_FIELDS, usage_log_list
from usage.time_range import TimeRange, day_end, day_start


def keyset_page(queryset: QuerySet, *, cursor: str = "", limit: int = 50):
    """One page of `queryset` newest first by (started_at, id); return (items, next_cursor).

    The cursor is the last item's position, so rows added meanwhile never shift a page.
    """
    queryset = queryset.order_by("-started_at", "-id")
    if cursor:
        started_at, pk = keyset.cursor_decode(cursor)
        queryset = queryset.filter(keyset.keyset_after("started_at", started_at, pk, descending=True))
    items = list(queryset[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = keyset.cursor_encode(items[-1].started_at, items[-1].pk)
    return items, next_cursor


@dataclass(frozen=True)
class LogFilters:
    endpoint: str = ""  # an endpoint id, or the slug of a deleted one
    model: str = ""
    outcome: str = ""
    session: Session | None = None
    since: date | None = None
    until: date | None = None
    # Attribution: a value, or NOT_SET for the calls without one.
    person: str = ""
    request_class: str = ""
    agent_type: str = ""
    agent: str = ""  # a subagent run's agent id
    tag: str = ""
    property: tuple[str, str] | None = None  # (name, value)


def usage_log_filtered(*, organization: Organization, filters: LogFilters) -> QuerySet[UsageLog]:
    """The organization's logs narrowed by the same filters as GET /api/usage-logs."""
    return usage_log_list(
        queryset=UsageLog.objects.filter(organization=organization),
        endpoint=filters.endpoint,
        model=filters.model,
        outcome=filters.outcome,
        session=filters.session.id if filters.session else None,
        person=filters.person,
        request_class=filters.request_class,
        agent_type=filters.agent_type,
        agent=filters.agent,
        tag=filters.tag,
        property=filters.property,
        organization_id=organization.id,
        time_range=TimeRange(
            since=day_start(filters.since) if filters.since else None,
            until=day_end(filters.until) if filters.until else None,
        ),
    )


def usage_log_page(
    *, organization: Organization, filters: LogFilters, cursor: str = "", limit: int = 50
):
    logs = usage_log_filtered(organization=organization, filters=filters)
    # The list's columns (never the bodies) and the session's name.
    logs = logs.select_related("session").only(*USAGE_LOG_LIST_FIELDS, "session__name")
    items, next_cursor = keyset_page(logs, cursor=cursor, limit=limit)
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
