"""The dashboard's period: whole UTC days, a preset (7, 30, 90 days) or a chosen range."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PRESET_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_CUSTOM_DAYS = 366 * 3


@dataclass(frozen=True)
class Period:
    since: date
    until: date
    preset: int | None = None
    error: str = ""

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive)."""
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)

    def dates(self) -> list[date]:
        return [self.since + timedelta(days=i) for i in range(self.days)]


def parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value and value.strip() else None
    except ValueError:
        return None


def period_from_params(params, *, today: date) -> Period:
    """The period a query string asks for: ?days=7|30|90, or ?since=&until= (UTC dates)."""
    since_raw, until_raw = params.get("since", ""), params.get("until", "")
    if since_raw or until_raw:
        since, until = parse_date(since_raw), parse_date(until_raw)
        until = until or (today if not until_raw else None)
        if since is None or until is None:
            error = "Dates must look like 2026-01-31."
        elif since > until:
            error = "The start date must not be after the end date."
        elif (until - since).days >= MAX_CUSTOM_DAYS:
            error = f"Choose at most {MAX_CUSTOM_DAYS} days."
        else:
            return Period(since=since, until=until)
        return Period(
            since=today - timedelta(days=DEFAULT_DAYS - 1),
            until=today,
            preset=DEFAULT_DAYS,
            error=error,
        )
    try:
        days = int(params.get("days", DEFAULT_DAYS))
    except (TypeError, ValueError):
        days = DEFAULT_DAYS
    if days not in PRESET_DAYS:
        days = DEFAULT_DAYS
    return Period(since=today - timedelta(days=days - 1), until=today, preset=days)
