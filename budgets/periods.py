"""Calendar periods in an organization's time zone: where a budget's period starts and ends."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def period_bounds(period: str, time_zone: str, at: datetime) -> tuple[datetime, datetime]:
    """The period (day, week from Monday, month) holding `at`: [start, end), aware datetimes.

    Days are the zone's calendar days, so a day across a DST change is 23 or 25 hours.
    """
    zone = ZoneInfo(time_zone)
    local = at.astimezone(zone).date()
    if period == "day":
        first, following = local, local + timedelta(days=1)
    elif period == "week":
        first = local - timedelta(days=local.weekday())
        following = first + timedelta(days=7)
    elif period == "month":
        first = local.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown period {period!r}")
    return (
        datetime.combine(first, time.min, tzinfo=zone),
        datetime.combine(following, time.min, tzinfo=zone),
    )


def projection(spend, start: datetime, end: datetime, now: datetime):
    """The spend expected by the period's end at the rate so far (linear: spend over the
    elapsed share of the period); the spend itself before a minute has passed."""
    # In UTC: between two datetimes of the same zone Python subtracts wall-clock times, so
    # a 23-hour day across a DST change would count 24.
    elapsed = (now.astimezone(UTC) - start.astimezone(UTC)).total_seconds()
    if elapsed < 60:
        return spend
    whole = (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()
    return spend * type(spend)(whole) / type(spend)(min(elapsed, whole))
