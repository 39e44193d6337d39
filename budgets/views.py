"""The Settings page's budgets section: create and delete budgets and alert destinations,
set the organization's time zone. The section itself is rendered by the `budget_settings` template tag; on bad
input these views render the Settings page again with the API's own messages (the same
serializer and service as /api/budgets)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import Action, require
from accounts.scoping import get_object_for_user
from accounts.views import organization_required
from budgets.destinations import alert_destination_create, alert_destination_delete
from budgets.models import AlertDestination, Budget
from budgets.serializers import BudgetInputSerializer
from budgets.services import (
    budget_create,
    budget_delete,
    budget_fields,
    budgets_time_zone_set,
)
from proxy.views_settings import settings_render
from usage.money import Money

_FORM_FIELDS = ("name", "scope", "endpoint", "person", "amount_usd", "period", "thresholds", "hard_limit_usd")


def _budget_input(form: dict) -> dict:
    """The form's strings as the API's input: thresholds "50, 80, 100" a list, the
    checkbox a boolean, the endpoint or person only for their own scope."""
    values = {
        "name": form["name"],
        "scope": form["scope"] or Budget.Scope.ORGANIZATION,
        "amount_usd": form["amount_usd"],
        "period": form["period"] or Budget.Period.MONTH,
        "hard_limit": form["hard_limit"],
        "hard_limit_usd": form["hard_limit_usd"].strip() or None,
    }
    if form["thresholds"].strip():
        values["thresholds"] = [part.strip().removesuffix("%").strip() for part in form["thresholds"].split(",")]
    if values["scope"] == Budget.Scope.ENDPOINT:
        values["endpoint"] = form["endpoint"]
    if values["scope"] == Budget.Scope.PERSON:
        values["person"] = form["person"]
    return values


@never_cache
@require_POST
@login_required
@organization_required
def budget_create_view(request, organization):
    require(request, Action.BUDGET_MANAGE, organization)
    form = {name: request.POST.get(name, "") for name in _FORM_FIELDS}
    form["hard_limit"] = request.POST.get("hard_limit") == "1"
    data = BudgetInputSerializer(data=_budget_input(form))
    try:
        if not data.is_valid():
            errors = {field: [str(text) for text in texts] for field, texts in data.errors.items()}
            raise ValidationError(errors)
        budget = budget_create(
            organization=organization,
            **budget_fields(organization=organization, values=data.validated_data),
        )
    except ValidationError as error:
        return settings_render(
            request, organization, status=400, budget_form=form, budget_errors=error.message_dict
        )
    messages.success(
        request, f"Budget “{budget.name}” created: {Money(budget.amount_cents)} a {budget.period}."
    )
    return redirect(f"/settings#budget-{budget.id}")


@require_POST
@login_required
@organization_required
def budget_delete_view(request, organization, budget_id):
    require(request, Action.BUDGET_MANAGE, organization)
    budget = get_object_for_user(request, Budget, id=budget_id)
    budget_delete(budget=budget)
    messages.success(request, f"Budget “{budget.name}” deleted; its hard limit, if any, no longer applies.")
    return redirect("/settings#budgets")


@never_cache
@require_POST
@login_required
@organization_required
def time_zone_view(request, organization):
    """The zone whose calendar days, weeks and months budgets follow."""
    require(request, Action.BUDGET_MANAGE, organization)
    time_zone = request.POST.get("time_zone", "")
    try:
        budgets_time_zone_set(organization=organization, time_zone=time_zone)
    except ValidationError as error:
        return settings_render(
            request, organization, status=400, time_zone_value=time_zone,
            time_zone_errors=error.message_dict["time_zone"],
        )
    messages.success(request, f"Time zone set to {organization.time_zone}: budget periods follow its calendar.")
    return redirect("/settings#budgets")


@never_cache
@require_POST
@login_required
@organization_required
def alert_destination_create_view(request, organization):
    """Where alerts go: an email address, a webhook (its signing secret shown once) or Slack."""
    require(request, Action.BUDGET_MANAGE, organization)
    form = {"kind": request.POST.get("kind", ""), "target": request.POST.get("target", "").strip()}
    try:
        if form["kind"] not in AlertDestination.Kind.values:
            raise ValidationError({"kind": ["Choose email, webhook or Slack."]})
        destination = alert_destination_create(organization=organization, **form)
    except ValidationError as error:
        errors = [text for texts in error.message_dict.values() for text in texts]
        return settings_render(
            request, organization, status=400, destination_form=form, destination_errors=errors
        )
    text = f"Alerts will also go to {destination.get_kind_display().lower()} {destination.target}."
    if destination.secret:
        text += f" Its signing secret, shown once: {destination.secret}"
    messages.success(request, text)
    return redirect("/settings#alert-destinations")


@require_POST
@login_required
@organization_required
def alert_destination_delete_view(request, organization, destination_id):
    require(request, Action.BUDGET_MANAGE, organization)
    destination = get_object_for_user(request, AlertDestination, id=destination_id)
    alert_destination_delete(destination=destination)
    messages.success(request, "Alert destination removed.")
    return redirect("/settings#alert-destinations")
