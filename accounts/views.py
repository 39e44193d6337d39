"""Account pages: sign-in (password and one-time link), sign-up, organizations, invitations."""

from functools import wraps

from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accounts.models import Membership
from accounts.scoping import organization_for_request
from accounts.selectors import membership_get, organization_list_for_user
from accounts.services import login_link_use


def render_page(request, template: str, context: dict | None = None, *, status: int = 200):
    """Render a page with what the base layout needs: the organization and the switcher."""
    organization = organization_for_request(request)
    page = {"organization": organization, "organizations": [], "role": None}
    if request.user.is_authenticated:
        page["organizations"] = list(organization_list_for_user(user=request.user))
        if organization is not None:
            membership = membership_get(user=request.user, organization=organization)
            page["role"] = membership.role if membership else None
    page["is_owner"] = page["role"] == Membership.Role.OWNER
    page.update(context or {})
    return render(request, template, page, status=status)


def organization_required(view):
    """Give the view the caller's organization; a user in none sees a page that says so."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        organization = organization_for_request(request)
        if organization is None:
            return render_page(request, "accounts/no_organization.html", status=403)
        return view(request, organization, *args, **kwargs)

    return wrapper


@never_cache
@require_safe
def login_link(request, token: str):
    """Sign in with a one-time link, then go to the dashboard; a spent link gets 410."""
    user = login_link_use(token=token)
    if user is None:
        return render_page(request, "accounts/login_link_invalid.html", status=410)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("dashboard")
