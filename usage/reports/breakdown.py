"""What the attribution pages share: a breakdown of the period's cost by one rollup
dimension (person, request class, agent type, tag, a property), one Line per key.

Everything here reads UsageRollup (a day's totals per organization, dimension and key),
never the logs, so a page costs the same with a thousand calls or millions.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from django.db.models import QuerySet, Sum

from accounts.models import Organization
from usage.models import UsageRollup
from usage.money import Money
from usage.reports.period import Period
from usage.selectors.logs import NOT_SET

# The rollup sums a table shows.
SUMS = (
    "calls",
    "error_calls",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_cents",
    "cache_savings_cents",
)


@dataclass
class Line:
    """One row of an attribution table: a person, request class, agent type, tag or value."""

    key: str  # the value; "" for the calls without one
    label: str
    sums: dict
    logs_query: str = ""  # the logs list's query string for exactly these calls
    share: str = "—"  # of the period's cost
    bar: float = 0.0  # of the costliest row's cost, 0–100, for the inline bar
    source: str = ""  # people only: how the person was identified on their latest call

    @property
    def not_set(self) -> bool:
        return self.key == ""

    @property
    def calls(self) -> int:
        return self.sums["calls"]

    @property
    def cost(self) -> Money:
        return Money(self.sums["cost_cents"])

    @property
    def cache_savings(self) -> Money:
        return Money(self.sums["cache_savings_cents"])

    @property
    def cache_write_tokens(self) -> int:
        return self.sums["cache_write_5m_tokens"] + self.sums["cache_write_1h_tokens"]

    @property
    def cache_hit_ratio(self) -> str:
        """Cache reads over all the input the model read: uncached, cached and written."""
        read = self.sums["cache_read_tokens"]
        return percent(read, self.sums["input_tokens"] + read + self.cache_write_tokens)


def logs_query(period: Period, **filters: str) -> str:
    """The logs list's query string for these filters over the period."""
    return urlencode(
        {**filters, "since": period.since.isoformat(), "until": period.until.isoformat()}
    )


def rollups(organization: Organization, period: Period) -> QuerySet[UsageRollup]:
    return UsageRollup.objects.filter(
        organization=organization, day__gte=period.since, day__lte=period.until
    )


def rollup_sums(row: dict) -> dict:
    sums = {name: row.get(name) or 0 for name in SUMS}
    for name in ("cost_cents", "cache_savings_cents"):
        sums[name] = Decimal(sums[name])
    return sums


def grouped(
    organization: Organization, period: Period, dimension: str, *, limit: int | None = None
) -> list[dict]:
    """The period's sums per key of one dimension, costliest first (the first `limit`)."""
    rows = (
        rollups(organization, period)
        .filter(dimension=dimension)
        .values("key")
        .annotate(**{name: Sum(name) for name in SUMS})
        .order_by("-cost_cents", "-calls", "key")
    )
    return list(rows[:limit] if limit is not None else rows)


def with_shares(lines: list[Line], total_cost: Decimal) -> list[Line]:
    """Fill each line's share of the period's cost and its bar (against the costliest)."""
    top = max((line.sums["cost_cents"] for line in lines), default=Decimal(0))
    for line in lines:
        cost = line.sums["cost_cents"]
        line.bar = float(cost * 100 / top) if top > 0 else 0.0
        line.share = percent(cost, total_cost)
    return lines


def percent(part: Decimal | int, whole: Decimal | int) -> str:
    if whole <= 0:
        return "—"
    share = Decimal(part) * 100 / Decimal(whole)
    return f"{share.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def breakdown(
    organization: Organization,
    period: Period,
    *,
    dimension: str,
    param: str,
    total_cost: Decimal,
    not_set_label: str,
    labels: dict | None = None,
) -> list[Line]:
    """One line per key of `dimension`, costliest first, then the calls without one
    (`not_set_label`); each links to the logs list by `param`."""
    labels = labels or {}
    lines = []
    for row in grouped(organization, period, dimension):
        key = row["key"]
        lines.append(
            Line(
                key=key,
                label=labels.get(key, key) if key else not_set_label,
                sums=rollup_sums(row),
                logs_query=logs_query(period, **{param: key or NOT_SET}),
            )
        )
    lines.sort(key=lambda line: line.not_set)  # stable: costliest first, then "not set"
    return with_shares(lines, total_cost)
