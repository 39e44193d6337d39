"""The People page's read: cost per person over the period, from the rollups, and how each
shown person was identified (their latest call's source: one indexed query)."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import OuterRef, Subquery

from accounts.models import Organization
from usage.models import PersonSource, UsageLog
from usage.money import Money
from usage.reports.breakdown import Line, breakdown, percent, rollups
from usage.reports.dashboard import Totals, dashboard_totals
from usage.reports.period import Period

PEOPLE_LIMIT = 200
PERSON_SOURCES = dict(PersonSource.choices)


@dataclass
class People:
    lines: list[Line]  # the costliest `limit` people, then "Not attributed"
    totals: Totals
    more: int = 0  # people left out of `lines`
    more_cost: Money = field(default_factory=lambda: Money(Decimal(0)))

    @property
    def attributed_share(self) -> str:
        named = sum(
            (line.sums["cost_cents"] for line in self.lines if not line.not_set), Decimal(0)
        )
        return percent(named + self.more_cost.cents, self.totals.cost.cents)


def cost_by_person(
    *, organization: Organization, period: Period, limit: int = PEOPLE_LIMIT
) -> People:
    totals = dashboard_totals(organization=organization, period=period)
    lines = breakdown(
        organization,
        period,
        dimension="person",
        param="person",
        total_cost=totals.cost.cents,
        not_set_label="Not attributed",
    )
    named = [line for line in lines if not line.not_set]
    shown, rest = named[:limit], named[limit:]
    sources = _person_sources(organization, period, [line.key for line in shown])
    for line in shown:
        line.source = PERSON_SOURCES.get(sources.get(line.key) or "", "")
    return People(
        lines=shown + [line for line in lines if line.not_set],
        totals=totals,
        more=len(rest),
        more_cost=Money(sum((line.sums["cost_cents"] for line in rest), Decimal(0))),
    )


def _person_sources(organization: Organization, period: Period, names: list[str]) -> dict[str, str]:
    """How each person was identified on their latest call in the period, in one query: a
    person's last rollup day (the rollups' unique index), then that person's latest call
    (the logs' person index), never a scan of their calls."""
    if not names:
        return {}
    people = rollups(organization, period).filter(dimension="person")
    last_day = people.filter(key=OuterRef("key")).order_by("-day").values("day")[:1]
    last_source = (
        UsageLog.objects.filter(
            organization=organization,
            person=OuterRef("key"),
            started_at__gte=period.start,
            started_at__lt=period.end,
        )
        .order_by("-started_at", "-id")
        .values("person_source")[:1]
    )
    return dict(
        people.filter(key__in=names, day=Subquery(last_day))
        .annotate(source=Subquery(last_source))
        .values_list("key", "source")
    )
