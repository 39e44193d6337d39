"""The Agents page's reads: cost per request class and agent type, from the rollups, and
the costliest subagent runs (the rollups' `agent` dimension), with what their first call
says they were (one query on the usagelog_org_agent index, for those runs only)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Min

from accounts.models import Organization
from usage.models import UsageLog
from usage.money import Money
from usage.reports.breakdown import Line, breakdown, grouped, logs_query, rollup_sums
from usage.reports.dashboard import Totals, dashboard_totals
from usage.reports.period import Period

TOP_RUNS = 10
REQUEST_CLASS_LABELS = {
    "main": "Main conversation",
    "subagent": "Subagents",
    "compaction": "Compaction",
    "workflow": "Workflows",
    "auxiliary": "Auxiliary",
}


@dataclass
class AgentRun:
    """One subagent run (an agent id) in the period: its cost from the rollups, its type,
    parent and session from its first call."""

    agent_id: str
    sums: dict
    logs_query: str
    agent_type: str = ""
    parent_agent_id: str = ""
    session_id: str = ""
    session_name: str = ""
    first_call: datetime | None = None

    @property
    def calls(self) -> int:
        return self.sums["calls"]

    @property
    def cost(self) -> Money:
        return Money(self.sums["cost_cents"])


@dataclass
class Agents:
    request_classes: list[Line]
    agent_types: list[Line]
    runs: list[AgentRun]
    totals: Totals


def cost_by_agent(*, organization: Organization, period: Period, runs: int = TOP_RUNS) -> Agents:
    totals = dashboard_totals(organization=organization, period=period)
    return Agents(
        request_classes=breakdown(
            organization,
            period,
            dimension="request_class",
            param="request_class",
            total_cost=totals.cost.cents,
            not_set_label="Not sent",
            labels=REQUEST_CLASS_LABELS,
        ),
        agent_types=breakdown(
            organization,
            period,
            dimension="agent_type",
            param="agent_type",
            total_cost=totals.cost.cents,
            not_set_label="No agent type",
        ),
        runs=top_agent_runs(organization=organization, period=period, limit=runs),
        totals=totals,
    )


def top_agent_runs(
    *, organization: Organization, period: Period, limit: int = TOP_RUNS
) -> list[AgentRun]:
    """The costliest subagent runs of the period, with their agent type, parent and session."""
    runs = [
        AgentRun(
            agent_id=row["key"],
            sums=rollup_sums(row),
            logs_query=logs_query(period, agent=row["key"]),
        )
        for row in grouped(organization, period, "agent", limit=limit)
    ]
    if not runs:
        return runs
    # One row per distinct (agent, type, parent, session) of these runs' calls; a run's
    # first call says what it was. The exclude repeats the condition of the partial index
    # usagelog_org_agent: SQLite uses a partial index only when the query states it.
    facts = (
        UsageLog.objects.filter(
            organization=organization,
            agent_id__in=[run.agent_id for run in runs],
            started_at__gte=period.start,
            started_at__lt=period.end,
        )
        .exclude(agent_id="")
        .values("agent_id", "agent_type", "parent_agent_id", "session_id", "session__name")
        .annotate(first_call=Min("started_at"))
        .order_by("first_call")
    )
    first: dict[str, dict] = {}
    for row in facts:
        first.setdefault(row["agent_id"], row)
    for run in runs:
        row = first.get(run.agent_id)
        if row is None:
            continue
        run.agent_type, run.parent_agent_id = row["agent_type"], row["parent_agent_id"]
        run.session_id = str(row["session_id"]) if row["session_id"] else ""
        run.session_name = row["session__name"] or ""
        run.first_call = row["first_call"]
    return runs
