"""The dashboard's reads: period, totals, cost per endpoint per day (as chart geometry),
cost per model and the costliest sessions.

Everything here reads UsageDaily (totals per organization, day, endpoint and model),
never the logs, so the dashboard does not slow down as calls pile up.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, QuerySet, Sum

from accounts.models import Organization
from usage.models import Session, UsageDaily
from usage.money import Money, dollars_display
from usage.reports.period import Period

PALETTE = [
    "#3457d5",
    "#e07b39",
    "#2a9d8f",
    "#c4456a",
    "#8a63d2",
    "#d4a72c",
    "#4a90b8",
    "#6b9e4a",
    "#9aa3b5",
]
MAX_SERIES = 8
OTHER = "other endpoints"
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
)


@dataclass
class Totals:
    cost: Money
    cache_savings: Money
    calls: int
    error_calls: int
    unpriced_calls: int
    tokens: dict[str, int]

    @property
    def error_rate(self) -> str:
        return _percent(self.error_calls, self.calls)

    @property
    def cache_write_tokens(self) -> int:
        return self.tokens["cache_write_5m_tokens"] + self.tokens["cache_write_1h_tokens"]


def _percent(part: int, whole: int) -> str:
    if not whole:
        return "—"
    share = Decimal(part * 100) / Decimal(whole)
    return f"{share.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _daily(organization: Organization, period: Period) -> QuerySet[UsageDaily]:
    return UsageDaily.objects.filter(
        organization=organization, day__gte=period.since, day__lte=period.until
    )


def dashboard_totals(*, organization: Organization, period: Period) -> Totals:
    sums = _daily(organization, period).aggregate(
        cost=Sum("cost_cents"),
        savings=Sum("cache_savings_cents"),
        calls=Sum("calls"),
        error_calls=Sum("error_calls"),
        unpriced_calls=Sum("unpriced_calls"),
        **{name: Sum(name) for name in TOKEN_FIELDS},
    )
    return Totals(
        cost=Money(sums["cost"] or Decimal(0)),
        cache_savings=Money(sums["savings"] or Decimal(0)),
        calls=sums["calls"] or 0,
        error_calls=sums["error_calls"] or 0,
        unpriced_calls=sums["unpriced_calls"] or 0,
        tokens={name: sums[name] or 0 for name in TOKEN_FIELDS},
    )


@dataclass
class Row:
    """One line of a breakdown table (an endpoint or a model)."""

    label: str
    cost: Money
    calls: int
    error_calls: int = 0
    tokens: int = 0
    share: float = 0.0  # of the largest row's cost, 0–100, for the inline bar
    color: str = ""

    @property
    def error_rate(self) -> str:
        return _percent(self.error_calls, self.calls)


def _shares(rows: list[Row]) -> list[Row]:
    top = max((row.cost.cents for row in rows), default=Decimal(0))
    for row in rows:
        row.share = float(row.cost.cents * 100 / top) if top else 0.0
    return rows


def cost_by_model(*, organization: Organization, period: Period) -> list[Row]:
    grouped = (
        _daily(organization, period)
        .values("model")
        .annotate(
            cost=Sum("cost_cents"),
            calls=Sum("calls"),
            errors=Sum("error_calls"),
            input=Sum("input_tokens"),
            output=Sum("output_tokens"),
        )
        .order_by("-cost", "model")
    )
    return _shares(
        [
            Row(
                label=row["model"] or "(unknown model)",
                cost=Money(row["cost"] or Decimal(0)),
                calls=row["calls"] or 0,
                error_calls=row["errors"] or 0,
                tokens=(row["input"] or 0) + (row["output"] or 0),
            )
            for row in grouped
        ]
    )


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass
class Chart:
    """A stacked bar chart drawn as SVG by the template: geometry computed here."""

    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[dict] = field(default_factory=list)
    x_labels: list[dict] = field(default_factory=list)
    legend: list[Row] = field(default_factory=list)
    plot_left: int = 0
    plot_right: int = 0
    plot_top: int = 0
    plot_bottom: int = 0
    empty: bool = True


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (> 0)."""
    exponent = value.adjusted()
    for _ in range(2):
        for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5)):
            candidate = step.scaleb(exponent)
            if candidate >= value:
                return candidate
        exponent += 1
    return Decimal(10).scaleb(exponent)


def cost_per_endpoint_per_day(
    *, organization: Organization, period: Period, width: int = 760, height: int = 260
) -> Chart:
    """Cost per day, stacked by endpoint (the costliest MAX_SERIES, then "other")."""
    grouped = (
        _daily(organization, period)
        .values("day", "endpoint_slug")
        .annotate(cost=Sum("cost_cents"), calls=Sum("calls"), errors=Sum("error_calls"))
        .order_by("day", "endpoint_slug")
    )
    per_endpoint: dict[str, Row] = {}
    cells: dict[tuple[date, str], Decimal] = {}
    for row in grouped:
        slug = row["endpoint_slug"]
        entry = per_endpoint.setdefault(slug, Row(label=slug, cost=Money(Decimal(0)), calls=0))
        cost = row["cost"] or Decimal(0)
        entry.cost = Money(entry.cost.cents + cost)
        entry.calls += row["calls"] or 0
        entry.error_calls += row["errors"] or 0
        cells[(row["day"], slug)] = cells.get((row["day"], slug), Decimal(0)) + cost

    ranked = sorted(per_endpoint.values(), key=lambda r: (-r.cost.cents, r.label))
    series = ranked[:MAX_SERIES]
    if len(ranked) > MAX_SERIES:
        rest = ranked[MAX_SERIES:]
        series.append(
            Row(
                label=OTHER,
                cost=Money(sum((r.cost.cents for r in rest), Decimal(0))),
                calls=sum(r.calls for r in rest),
                error_calls=sum(r.error_calls for r in rest),
            )
        )
    in_series = {row.label for row in ranked[:MAX_SERIES]}
    for index, row in enumerate(series):
        row.color = PALETTE[index % len(PALETTE)]
    stacked: dict[tuple[date, str], Decimal] = {}
    for (day, slug), cost in cells.items():
        key = (day, slug if slug in in_series else OTHER)
        stacked[key] = stacked.get(key, Decimal(0)) + cost

    chart = Chart(width=width, height=height, legend=_shares(list(series)))
    chart.plot_left, chart.plot_right = 64, width - 8
    chart.plot_top, chart.plot_bottom = 10, height - 26
    days = period.dates()
    stacks = {
        day: [(row, stacked.get((day, row.label), Decimal(0))) for row in series] for day in days
    }
    day_totals = [sum((cost for _, cost in stacks.get(day, ())), Decimal(0)) for day in days]
    top = max(day_totals, default=Decimal(0))
    chart.empty = top <= 0
    scale_max = _nice_ceiling(top) if top > 0 else Decimal(1)
    plot_height = chart.plot_bottom - chart.plot_top
    slot = (chart.plot_right - chart.plot_left) / max(len(days), 1)
    bar_width = max(1.0, slot * 0.72)

    for step in range(5):
        value = scale_max * step / 4
        y = chart.plot_bottom - plot_height * step / 4
        chart.y_ticks.append({"y": round(y, 2), "label": dollars_display(value)})

    label_every = max(1, round(len(days) / 8))
    for index, day in enumerate(days):
        x = chart.plot_left + slot * index + (slot - bar_width) / 2
        if index % label_every == 0:
            chart.x_labels.append(
                {"x": round(x + bar_width / 2, 2), "label": day.strftime("%b %d")}
            )
        y = float(chart.plot_bottom)
        for row, cost in stacks.get(day, ()):
            if cost <= 0:
                continue
            bar_height = float(cost / scale_max) * plot_height
            y -= bar_height
            chart.bars.append(
                Bar(
                    x=round(x, 2),
                    y=round(y, 2),
                    width=round(bar_width, 2),
                    height=round(max(bar_height, 0.5), 2),
                    color=row.color,
                    title=f"{day.isoformat()} · {row.label}: {dollars_display(cost)}",
                )
            )
    return chart


def top_sessions(*, organization: Organization, period: Period, limit: int = 10) -> list[Session]:
    """The costliest sessions active in the period (their totals are whole-session)."""
    sessions = list(
        Session.objects.filter(organization=organization, started_at__lt=period.end)
        .filter(Q(started_at__gte=period.start) | Q(last_call_at__gte=period.start))
        .filter(cost_cents__gt=0)
        .select_related("endpoint")
        .order_by("-cost_cents", "-started_at")[:limit]
    )
    for session in sessions:
        session.cost = Money(session.cost_cents)
    return sessions


def organization_has_usage(*, organization: Organization) -> bool:
    return UsageDaily.objects.filter(organization=organization).exists()
