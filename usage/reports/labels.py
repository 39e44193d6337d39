"""The Properties page's reads: cost per value of one property and per tag, from the
rollups. A call has at most one value of a property, so its calls without one are the
period's totals (UsageDaily) less the values' rows."""

from dataclasses import dataclass

from accounts.models import Organization
from usage.reports.breakdown import (
    SUMS,
    Line,
    breakdown,
    grouped,
    logs_query,
    rollup_sums,
    rollups,
    with_shares,
)
from usage.reports.dashboard import Totals, dashboard_totals
from usage.reports.period import Period
from usage.selectors.logs import NOT_SET

PROPERTY_DIMENSION = "property:"


@dataclass
class Labels:
    names: list[str]  # the property names seen in the period
    name: str  # the property shown ("" when none)
    values: list[Line]  # its values, then the calls without it
    tags: list[Line]  # tags, then the untagged calls
    totals: Totals


def property_names(*, organization: Organization, period: Period) -> list[str]:
    dimensions = (
        rollups(organization, period)
        .filter(dimension__startswith=PROPERTY_DIMENSION)
        .order_by("dimension")
        .values_list("dimension", flat=True)
        .distinct()
    )
    return [dimension[len(PROPERTY_DIMENSION) :] for dimension in dimensions]


def cost_by_label(*, organization: Organization, period: Period, name: str = "") -> Labels:
    """Cost per tag, and per value of the property `name` (the first one when not seen)."""
    totals = dashboard_totals(organization=organization, period=period)
    names = property_names(organization=organization, period=period)
    name = name.strip().lower()
    if name not in names:
        name = names[0] if names else ""
    values = (
        cost_by_property(organization=organization, period=period, name=name, totals=totals)
        if name
        else []
    )
    tags = breakdown(
        organization,
        period,
        dimension="tag",
        param="tag",
        total_cost=totals.cost.cents,
        not_set_label="No tag",
    )
    return Labels(names=names, name=name, values=values, tags=tags, totals=totals)


def cost_by_property(
    *, organization: Organization, period: Period, name: str, totals: Totals
) -> list[Line]:
    """One line per value of the property, costliest first, then "Not set"."""
    lines = [
        Line(
            key=row["key"],
            label=row["key"],
            sums=rollup_sums(row),
            logs_query=logs_query(period, property=f"{name}:{row['key']}"),
        )
        for row in grouped(organization, period, PROPERTY_DIMENSION + name)
    ]
    whole = {
        "calls": totals.calls,
        "error_calls": totals.error_calls,
        "cost_cents": totals.cost.cents,
        "cache_savings_cents": totals.cache_savings.cents,
        **{token: totals.tokens[token] for token in SUMS if token.endswith("_tokens")},
    }
    unset = {key: value - sum(line.sums[key] for line in lines) for key, value in whole.items()}
    if unset["calls"] > 0:
        lines.append(
            Line(
                key="",
                label="Not set",
                sums=unset,
                logs_query=logs_query(period, property=f"{name}:{NOT_SET}"),
            )
        )
    return with_shares(lines, totals.cost.cents)
