"""The Settings page: proxy endpoints with their setup snippets, API keys, and the
organization's data retention and redaction (its budgets section is budgets' own: the
`budget_settings` template tag and budgets.views).

Who may do what is accounts.permissions' rules, the REST API's too: owners and members
see everything here and may create endpoints; changing (locking, unlocking) or deleting
an endpoint, creating or revoking keys and changing retention or redaction are for owners.
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from accounts.models import ApiKey
from accounts.organization_settings import organization_settings_update
from accounts.permissions import Action, require
from accounts.scoping import get_object_for_user
from accounts.selectors import api_key_list
from accounts.services import api_key_create, api_key_revoke
from accounts.views import organization_required, render_page
from proxy.models import ProxyEndpoint
from proxy.services import proxy_endpoint_create, proxy_endpoint_delete, proxy_endpoint_update
from proxy.snippets import attribution_snippets, setup_snippets


def settings_render(request, organization, *, status: int = 200, **context):
    """The Settings page; `context` adds to it (the budgets section's form and errors,
    budgets.views)."""
    endpoints = [
        {"endpoint": endpoint, "url": url, "snippets": setup_snippets(url, endpoint.require_key)}
        for endpoint in ProxyEndpoint.objects.of(organization)
        for url in [endpoint.base_url(request)]
    ]
    # Shown for the first endpoint: the headers are the same for every one.
    first = endpoints[0] if endpoints else None
    context["attribution_snippets"] = (
        attribution_snippets(first["url"], first["endpoint"].require_key) if first else []
    )
    context.setdefault("endpoint_form", {"name": "", "slug": "", "store_bodies": ProxyEndpoint.StoreBodies.FULL})
    context["store_bodies_choices"] = ProxyEndpoint.StoreBodies.choices
    context.setdefault("endpoint_errors", {})
    context.setdefault(
        "retention_form",
        {
            "body_retention_days": str(organization.body_retention_days),
            "usage_retention_days": str(organization.usage_retention_days or ""),
            "redaction_patterns": "\n".join(organization.redaction_patterns),
        },
    )
    return render_page(
        request,
        "proxy/settings.html",
        {
            "endpoints": endpoints,
            "api_keys": api_key_list(organization=organization).select_related("created_by"),
            **context,
        },
        status=status,
    )


@never_cache
@require_safe
@login_required
@organization_required
def settings_page(request, organization):
    return settings_render(request, organization)


@never_cache
@require_POST
@login_required
@organization_required
def endpoint_create(request, organization):
    """Create an endpoint (name, optional slug) with the API's rules and messages."""
    require(request, Action.ENDPOINT_CREATE, organization)
    name = request.POST.get("name", "")
    slug = request.POST.get("slug", "").strip()
    store_bodies = request.POST.get("store_bodies", ProxyEndpoint.StoreBodies.FULL)
    try:
        endpoint = proxy_endpoint_create(
            organization=organization, name=name, slug=slug or None, store_bodies=store_bodies
        )
    except ValidationError as error:
        errors = error.message_dict if hasattr(error, "error_dict") else {"name": error.messages}
        return settings_render(
            request,
            organization,
            status=400,
            endpoint_form={"name": name, "slug": slug, "store_bodies": store_bodies},
            endpoint_errors=errors,
        )
    messages.success(request, f"Endpoint “{endpoint.name}” created at /proxy/{endpoint.slug}.")
    return redirect(f"/settings#endpoint-{endpoint.slug}")


@require_POST
@login_required
@organization_required
def endpoint_lock(request, organization, endpoint_id):
    """Lock (require_key=1) or unlock (require_key=0) an endpoint."""
    require(request, Action.ENDPOINT_CHANGE, organization)
    endpoint = get_object_for_user(request, ProxyEndpoint, id=endpoint_id)
    locked = request.POST.get("require_key") == "1"
    proxy_endpoint_update(endpoint=endpoint, require_key=locked)
    if locked:
        messages.success(
            request,
            f"Endpoint “{endpoint.name}” is locked: calls must send one of your keys in x-codecosts-key.",
        )
    else:
        messages.success(
            request, f"Endpoint “{endpoint.name}” is open: anyone with its URL can send calls through it."
        )
    return redirect(f"/settings#endpoint-{endpoint.slug}")


@require_POST
@login_required
@organization_required
def endpoint_store_bodies(request, organization, endpoint_id):
    """Choose which bodies of an endpoint's calls are kept (owners)."""
    require(request, Action.ENDPOINT_CHANGE, organization)
    endpoint = get_object_for_user(request, ProxyEndpoint, id=endpoint_id)
    try:
        proxy_endpoint_update(endpoint=endpoint, store_bodies=request.POST.get("store_bodies", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(f"/settings#endpoint-{endpoint.slug}")
    messages.success(
        request, f"Endpoint “{endpoint.name}” keeps: {endpoint.get_store_bodies_display().lower()}."
    )
    return redirect(f"/settings#endpoint-{endpoint.slug}")


@require_POST
@login_required
@organization_required
def endpoint_delete(request, organization, endpoint_id):
    require(request, Action.ENDPOINT_DELETE, organization)
    endpoint = get_object_for_user(request, ProxyEndpoint, id=endpoint_id)
    proxy_endpoint_delete(endpoint=endpoint)
    messages.success(
        request, f"Endpoint “{endpoint.name}” deleted; /proxy/{endpoint.slug} no longer answers."
    )
    return redirect("settings")


@never_cache
@require_POST
@login_required
@organization_required
def api_key_create_view(request, organization):
    """Create an API key and show it on this response only: it is stored as a hash."""
    require(request, Action.API_KEY_MANAGE, organization)
    try:
        api_key, raw_key = api_key_create(
            organization=organization,
            name=request.POST.get("name", ""),
            scope=request.POST.get("scope", ApiKey.Scope.FULL),
            created_by=request.user,
        )
    except ValidationError as error:
        return settings_render(request, organization, status=400, api_key_errors=error.messages)
    return settings_render(request, organization, new_key=raw_key, new_key_object=api_key)


@require_POST
@login_required
@organization_required
def api_key_revoke_view(request, organization, api_key_id):
    require(request, Action.API_KEY_MANAGE, organization)
    api_key = get_object_for_user(request, ApiKey, id=api_key_id)
    api_key_revoke(api_key=api_key)
    messages.success(request, f"API key {api_key.display_prefix}… revoked.")
    return redirect("settings")


_DAYS = re.compile(r"[0-9]{1,9}")
RETENTION_FIELDS = ("body_retention_days", "usage_retention_days", "redaction_patterns")


def _days(text: str):
    """A whole number typed in a form, else the text (the service says what is wrong)."""
    text = text.strip()
    return int(text) if _DAYS.fullmatch(text) else text


@never_cache
@require_POST
@login_required
@organization_required
def retention_settings_view(request, organization):
    """How long bodies and usage logs are kept, and the organization's redaction patterns
    (one a line; blank lines and the spaces around a pattern do not count)."""
    require(request, Action.ORGANIZATION_MANAGE, organization)
    form = {field: request.POST.get(field, "") for field in RETENTION_FIELDS}
    usage_days = _days(form["usage_retention_days"])
    try:
        updated = organization_settings_update(
            organization=organization,
            body_retention_days=_days(form["body_retention_days"]),
            usage_retention_days=None if usage_days == "" else usage_days,
            redaction_patterns=[line.strip() for line in form["redaction_patterns"].splitlines() if line.strip()],
        )
    except ValidationError as error:
        errors = [text for field in RETENTION_FIELDS for text in error.message_dict.get(field, [])]
        return settings_render(request, organization, status=400, retention_form=form, retention_errors=errors)
    usage = f"{updated.usage_retention_days} days" if updated.usage_retention_days else "for ever"
    count = len(updated.redaction_patterns)
    messages.success(
        request,
        f"Bodies are kept {updated.body_retention_days} days, usage logs {usage}; "
        f"{count} redaction pattern{'' if count == 1 else 's'} of your own.",
    )
    return redirect("/settings#retention")
