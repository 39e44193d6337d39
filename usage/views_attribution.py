"""The attribution pages: cost per person, per agent (request class, agent type, subagent
run) and per tag and property value, over the dashboard's period. Every row links to the
logs list filtered to exactly its calls."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.permissions import Action, require
from accounts.views import organization_required, render_page
from usage.reports.agents import cost_by_agent
from usage.reports.labels import cost_by_label
from usage.reports.people import cost_by_person
from usage.reports.period import PRESET_DAYS, period_from_params


def _page(request, template: str, context: dict, *, keep: dict | None = None):
    """Render an attribution page with the period picker (keeping `keep` across periods)."""
    keep = {name: value for name, value in (keep or {}).items() if value}
    return render_page(
        request,
        template,
        {
            "presets": PRESET_DAYS,
            "period_keep": list(keep.items()),
            "period_keep_query": urlencode(keep),
            **context,
        },
    )


def _period(request):
    return period_from_params(request.GET, today=timezone.now().date())


@never_cache
@require_safe
@login_required
@organization_required
def people(request, organization):
    """Cost, calls, tokens and cache use per person, and the calls of no one."""
    require(request, Action.VIEW, organization)
    period = _period(request)
    report = cost_by_person(organization=organization, period=period)
    return _page(request, "usage/people.html", {"period": period, "people": report})


@never_cache
@require_safe
@login_required
@organization_required
def agents(request, organization):
    """Cost per request class and agent type, and the costliest subagent runs."""
    require(request, Action.VIEW, organization)
    period = _period(request)
    report = cost_by_agent(organization=organization, period=period)
    return _page(request, "usage/agents.html", {"period": period, "agents": report})


@never_cache
@require_safe
@login_required
@organization_required
def properties(request, organization):
    """Cost per value of a chosen property (?name=), and per tag."""
    require(request, Action.VIEW, organization)
    period = _period(request)
    report = cost_by_label(
        organization=organization, period=period, name=request.GET.get("name", "")
    )
    return _page(
        request,
        "usage/properties.html",
        {"period": period, "labels": report},
        keep={"name": report.name},
    )
