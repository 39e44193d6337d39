"""Budgets on pages of other apps: `{% budget_cards organization %}` (the dashboard's burn
rate) and `{% budget_settings %}` (the Settings page's section), so that neither usage
nor proxy imports budgets."""

from decimal import Decimal
from urllib.parse import urlsplit

from django import template

from accounts.selectors import time_zone_names
from budgets import selectors
from budgets.models import DEFAULT_THRESHOLDS, AlertDestination, Budget
from proxy.models import ProxyEndpoint
from usage.money import Money

register = template.Library()

# The zones offered as you type (any IANA name is accepted): "Area/City" and UTC.
_AREAS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/", "Pacific/")


def budget_rows(organization) -> list[dict]:
    """Each budget with where it stands now, shaped for a page."""
    now = selectors.budget_clock()
    rows = []
    for budget in selectors.budget_list(organization=organization):
        status = selectors.budget_status(budget, now=now)
        rows.append(
            {
                "budget": budget,
                "status": status,
                "amount": Money(budget.amount_cents),
                "spend": Money(status.spend_cents),
                "projected": Money(status.projected_cents),
                "limit": Money(budget.limit_cents),
                # The bar's filled share, out of 100 (an SVG attribute: no inline style).
                "bar": min(status.percent, Decimal(100)),
                "period_word": {"day": "today", "week": "this week", "month": "this month"}[budget.period],
            }
        )
    return rows


@register.inclusion_tag("budgets/_cards.html")
def budget_cards(organization):
    return {"rows": budget_rows(organization) if organization else []}


def _time_zones() -> list[str]:
    return ["UTC"] + sorted(name for name in time_zone_names() if name.startswith(_AREAS))


@register.inclusion_tag("budgets/_settings.html", takes_context=True)
def budget_settings(context):
    organization = context["organization"]
    form = {
        "name": "", "scope": Budget.Scope.ORGANIZATION, "endpoint": "", "person": "", "amount_usd": "",
        "period": Budget.Period.MONTH, "thresholds": ", ".join(map(str, DEFAULT_THRESHOLDS)),
        "hard_limit": False, "hard_limit_usd": "",
        **context.get("budget_form", {}),
    }
    return {
        "organization": organization,
        "can": context.get("can", {}),
        "rows": budget_rows(organization),
        "endpoints": ProxyEndpoint.objects.of(organization),
        "scopes": Budget.Scope.choices,
        "periods": Budget.Period.choices,
        "form": form,
        "errors": context.get("budget_errors", {}),
        "time_zone_value": context.get("time_zone_value", organization.time_zone),
        "time_zone_errors": context.get("time_zone_errors", []),
        "time_zones": _time_zones(),
        # What the alerts section shows (budgets/_alerts.html).
        "destinations": [
            {"id": d.id, "kind": d.get_kind_display(), "shown": _shown(d), "created_at": d.created_at}
            for d in AlertDestination.objects.filter(organization=organization).order_by("created_at")
        ],
        "destination_kinds": AlertDestination.Kind.choices,
        "destination_form": context.get("destination_form", {"kind": "email", "target": ""}),
        "destination_errors": context.get("destination_errors", []),
        "deliveries": [
            {"delivery": d, "shown": _shown(d.destination)}
            for d in selectors.alert_delivery_log(organization, limit=20)
        ],
    }


def _shown(destination: AlertDestination) -> str:
    """An email address as it is; a URL by its host only (Slack's and webhooks' URLs are secrets)."""
    if destination.kind == AlertDestination.Kind.EMAIL:
        return destination.target
    return f"{urlsplit(destination.target).hostname or '?'}/…"
