"""Time ranges of usage reads: half-open, `since <= started_at < until`, in UTC."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import QuerySet


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
