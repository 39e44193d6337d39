"""Usage pages: the dashboard, the logs with their detail and CSV export, and sessions.

The attribution pages (people, agents, properties) are in usage.views_attribution."""

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from accounts.scoping import get_object_for_user
from accounts.views import organization_required, render_page
from codecosts import keyset
from proxy.models import ProxyEndpoint
from usage.exports import as_async, usage_log_csv
from usage.models import Session, UsageLog
from usage.money import Money
from usage.reports import dashboard, lists, log_detail
from usage.reports.period import PRESET_DAYS, parse_date, period_from_params
from usage.selectors.logs import NOT_SET, usage_log_cost_parts
from usage.selectors.retention import retention_bodies_deleted_after
from usage.services import sessions as session_services

LOG_PAGE_SIZE = 50
SESSION_PAGE_SIZE = 50
# The logs list's attribution filters (query parameter, what a chip calls it).
ATTRIBUTION_FILTERS = (
    ("person", "Person"),
    ("request_class", "Request class"),
    ("agent_type", "Agent type"),
    ("agent", "Agent"),
    ("tag", "Tag"),
    ("property", "Property"),
)


@never_cache
@require_safe
@login_required
@organization_required
def dashboard_page(request, organization):
    """Cost for a period: totals, per endpoint per day, per model, top sessions, errors."""
    endpoints = list(ProxyEndpoint.objects.of(organization))
    has_usage = dashboard.organization_has_usage(organization=organization)
    if not endpoints and not has_usage:
        return render_page(request, "usage/dashboard.html", {"setup": True})
    period = period_from_params(request.GET, today=timezone.now().date())
    context = {
        "period": period,
        "presets": PRESET_DAYS,
        "totals": dashboard.dashboard_totals(organization=organization, period=period),
        "chart": dashboard.cost_per_endpoint_per_day(organization=organization, period=period),
        "models": dashboard.cost_by_model(organization=organization, period=period),
        "sessions": dashboard.top_sessions(organization=organization, period=period),
    }
    if not has_usage:
        # Endpoints but no call yet: finish the walkthrough with the first one.
        context["first_endpoint"] = endpoints[0]
    return render_page(request, "usage/dashboard.html", context)


def _log_filters(request, organization) -> tuple[lists.LogFilters, dict]:
    """The log filters from the query string, validated against the organization."""
    params = request.GET
    slug = params.get("endpoint", "").strip()
    endpoint = (
        ProxyEndpoint.all_objects.filter(organization=organization, slug=slug).first() if slug else None
    )
    session = None
    if params.get("session"):
        session = get_object_for_user(request, Session, id=params["session"])
    outcome = params.get("outcome", "")
    if outcome not in UsageLog.Outcome.values:
        outcome = ""
    attribution = {name: params.get(name, "").strip() for name, _ in ATTRIBUTION_FILTERS}
    # property=<name>:<value>, as the API takes it; a name is lowercase (a header's).
    name, _, value = attribution.pop("property").partition(":")
    prop = (name.strip().lower(), value) if name.strip() and value else None
    filters = lists.LogFilters(
        # An existing endpoint by id (indexed); a deleted one's calls by their slug.
        endpoint=str(endpoint.id) if endpoint else slug,
        model=params.get("model", "").strip(),
        outcome=outcome,
        session=session,
        since=parse_date(params.get("since", "")),
        until=parse_date(params.get("until", "")),
        property=prop,
        **attribution,
    )
    form = {
        "endpoint": slug,
        "model": filters.model,
        "outcome": outcome,
        "session": str(session.id) if session else "",
        **attribution,
        "property": f"{prop[0]}:{prop[1]}" if prop else "",
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
    }
    return filters, form


def _filter_chips(form: dict) -> list[dict]:
    """The attribution filters in force, each with the query string that drops it."""
    chips = []
    for name, label in ATTRIBUTION_FILTERS:
        value = form[name]
        if not value:
            continue
        if name == "property":
            label, _, value = value.partition(":")
        chips.append(
            {
                "name": name,
                "label": label,
                "value": value,
                "not_set": value == NOT_SET,
                "remove": _query(form, **{name: ""}),
            }
        )
    return chips


def _query(form: dict, **extra) -> str:
    return urlencode({k: v for k, v in {**form, **extra}.items() if v})


@never_cache
@require_safe
@login_required
@organization_required
def logs(request, organization):
    """Every call, newest first, filtered; keyset pages, bodies never loaded."""
    filters, form = _log_filters(request, organization)
    try:
        items, next_cursor = lists.usage_log_page(
            organization=organization,
            filters=filters,
            cursor=request.GET.get("cursor", ""),
            limit=LOG_PAGE_SIZE,
        )
    except keyset.CursorError:
        return HttpResponseBadRequest("Invalid cursor.")
    choices = lists.usage_log_filter_choices(organization=organization)
    return render_page(
        request,
        "usage/logs.html",
        {
            "logs": items,
            "filters": form,
            "filter_session": filters.session,
            "chips": _filter_chips(form),
            "query": _query(form),
            "next_query": _query(form, cursor=next_cursor) if next_cursor else "",
            "is_first_page": not request.GET.get("cursor"),
            "models": choices["models"],
            "slugs": sorted(
                set(choices["slugs"])
                | {endpoint.slug for endpoint in ProxyEndpoint.objects.of(organization)}
            ),
            "outcomes": UsageLog.Outcome.choices,
        },
    )


@require_safe
@login_required
@organization_required
def logs_export(request, organization):
    """The filtered logs as CSV, streamed row by row."""
    filters, _ = _log_filters(request, organization)
    logs_ = lists.usage_log_filtered(organization=organization, filters=filters)
    chunks = usage_log_csv(logs_)
    response = StreamingHttpResponse(
        as_async(chunks) if isinstance(request, ASGIRequest) else chunks,
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="codecosts-logs-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_safe
@login_required
@organization_required
def log_detail_page(request, organization, log_id: uuid.UUID):
    """One call: request and response (readable and raw), tokens and cost, timing, outcome."""
    log = get_object_for_user(
        request, UsageLog.objects.select_related("body", "session", "endpoint", "organization"), id=log_id
    )
    request_body, response_body = log_detail.log_bodies(log)
    return render_page(
        request,
        "usage/log_detail.html",
        {
            "log": log,
            "cost": Money(log.cost_cents),
            "cost_lines": log_detail.cost_lines(log),
            "cost_parts": usage_log_cost_parts(log),
            "request_body": request_body,
            "conversation": log_detail.request_conversation(log, request_body.parsed),
            "response_body": response_body,
            "bodies_deleted_after": retention_bodies_deleted_after(log),
            "answer": log_detail.response_message(log, response_body.parsed),
            "reassembled": log_detail.pretty(response_body.parsed)
            if response_body.is_stream
            else "",
        },
    )


@never_cache
@require_safe
@login_required
@organization_required
def sessions(request, organization):
    try:
        items, next_cursor = lists.session_page(
            organization=organization, cursor=request.GET.get("cursor", ""), limit=SESSION_PAGE_SIZE
        )
    except keyset.CursorError:
        return HttpResponseBadRequest("Invalid cursor.")
    return _sessions_page(request, organization, items=items, next_cursor=next_cursor)


def _sessions_page(request, organization, *, items, next_cursor, status=200, **context):
    return render_page(
        request,
        "usage/sessions.html",
        {
            "sessions": items,
            "next_cursor": next_cursor,
            "is_first_page": not request.GET.get("cursor"),
            "endpoints": ProxyEndpoint.objects.of(organization),
            "now": timezone.now(),
            **context,
        },
        status=status,
    )


@require_POST
@login_required
@organization_required
def session_start(request, organization):
    """Start a manual session: calls from now on are grouped under its name."""
    name = request.POST.get("name", "")
    endpoint = None
    if request.POST.get("endpoint"):
        endpoint = get_object_for_user(request, ProxyEndpoint, id=request.POST["endpoint"])
    try:
        session = session_services.session_start(organization=organization, name=name, endpoint=endpoint)
    except ValidationError as error:
        items, next_cursor = lists.session_page(organization=organization, limit=SESSION_PAGE_SIZE)
        return _sessions_page(
            request,
            organization,
            items=items,
            next_cursor=next_cursor,
            status=400,
            start_errors=error.messages,
            start_name=name,
        )
    messages.success(request, f"Session “{session.name}” started.")
    return redirect("sessions")


@require_POST
@login_required
@organization_required
def session_end(request, organization, session_id: uuid.UUID):
    session = get_object_for_user(request, Session, id=session_id)
    try:
        session_services.session_end(session=session)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Session “{session.name}” ended.")
    return redirect("sessions")
