"""Account pages: sign-up, sign-in (password and one-time link), organizations, invitations."""

from functools import wraps

from django.contrib import admin, messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.forms import InvitationForm, LoginForm, SignupForm
from accounts.models import Invitation
from accounts.permissions import RULES, Action, can, require, role_for
from accounts.scoping import SESSION_ORGANIZATION_KEY, get_object_for_user, organization_for_request
from accounts.selectors import api_key_hash, membership_get, organization_list_for_user
from accounts.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    login_link_use,
    user_sign_up,
)
from accounts.throttles import (
    THROTTLED_MESSAGE,
    THROTTLED_STATUS,
    link_throttled,
    login_throttled,
    signup_throttled,
)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# Pages a user may stay on when switching organization: their content is per organization.
SWITCH_TARGETS = {
    "dashboard", "logs", "sessions", "people", "agents", "properties", "settings", "members"
}


# --- Helpers every page module uses -----------------------------------------------------


def render_page(request, template: str, context: dict | None = None, *, status: int = 200):
    """Render a page with what the base layout needs: the organization and the switcher."""
    organization = organization_for_request(request)
    page = {"organization": organization, "organizations": [], "role": None}
    if request.user.is_authenticated:
        page["organizations"] = list(organization_list_for_user(user=request.user))
        page["role"] = role_for(request, organization)
    # What the caller may do, by action ({% if can.endpoint_delete %}): the same rules
    # as the API's (accounts.permissions).
    page["can"] = {action.name.lower(): page["role"] in RULES[action] for action in Action}
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


# --- Sign-up, sign-in, sign-out ---------------------------------------------------------


def _pending_invitation(token: str) -> Invitation | None:
    """The pending invitation a link's token names, or None (unknown, used, revoked, expired)."""
    invitation = (
        Invitation.objects.select_related("organization", "created_by")
        .filter(token_hash=api_key_hash(token or ""))
        .first()
    )
    return invitation if invitation is not None and invitation.is_pending else None


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def signup(request):
    """Create an account; it owns a new organization, or joins the one it was invited to."""
    token = request.POST.get("invite") or request.GET.get("invite") or ""
    invitation = _pending_invitation(token) if token else None
    if token and invitation is None:
        return render_page(request, "accounts/invitation_invalid.html", status=410)
    if request.user.is_authenticated:
        return redirect("invitation", token=token) if invitation else redirect("dashboard")

    throttled = request.method == "POST" and signup_throttled(request)
    form = SignupForm(request.POST or None, invited=invitation is not None, throttled=throttled)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_sign_up(
                username=data["username"],
                email=data["email"],
                password=data["password"],
                organization_name=data.get("organization_name", ""),
                invitation_token=token or None,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            login(request, user, backend=MODEL_BACKEND)
            if invitation is not None:
                request.session[SESSION_ORGANIZATION_KEY] = str(invitation.organization_id)
                messages.success(request, f"Welcome to {invitation.organization.name}.")
            return redirect("dashboard")
    status = THROTTLED_STATUS if throttled else 400 if form.is_bound else 200
    return render_page(
        request,
        "accounts/signup.html",
        {"form": form, "invitation": invitation, "token": token},
        status=status,
    )


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        # Counted before the form is validated; LoginForm refuses a throttled attempt
        # without checking its password.
        request.login_throttled = login_throttled(request)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if self.request.login_throttled:
            response.status_code = THROTTLED_STATUS
        return response


login_view = LoginView.as_view()


def admin_login(request, extra_context=None):
    """Django admin's login, behind the same throttle as the login page (same counters).

    codecosts/urls.py routes /admin/login/ here and gives the admin site AdminLoginForm.
    """
    request.login_throttled = request.method == "POST" and login_throttled(request)
    response = admin.site.login(request, extra_context)
    if request.login_throttled:
        response.status_code = THROTTLED_STATUS
    return response
# POST only (Django's LogoutView refuses GET); redirects to LOGOUT_REDIRECT_URL.
logout_view = auth_views.LogoutView.as_view()


@never_cache
@require_safe
def login_link(request, token: str):
    """Sign in with a one-time link, then go to the dashboard; a spent link gets 410."""
    if link_throttled(request):
        return _throttled_page(request)
    user = login_link_use(token=token)
    if user is None:
        return render_page(request, "accounts/login_link_invalid.html", status=410)
    login(request, user, backend=MODEL_BACKEND)
    return redirect("dashboard")


def _throttled_page(request):
    return render_page(
        request, "accounts/throttled.html", {"message": THROTTLED_MESSAGE}, status=THROTTLED_STATUS
    )


# --- Organizations ----------------------------------------------------------------------


@require_POST
@login_required
def organization_switch(request):
    """Make another of the user's organizations the active one for this browser session."""
    chosen = request.POST.get("organization", "")
    organization = next(
        (o for o in organization_list_for_user(user=request.user) if str(o.id) == chosen), None
    )
    if organization is None:
        raise Http404("No such organization.")
    request.session[SESSION_ORGANIZATION_KEY] = str(organization.id)
    return redirect(_switch_target(request))


def _switch_target(request) -> str:
    """Stay on the same section after switching; objects of the old organization would 404."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        try:
            name = resolve(target.split("?", 1)[0]).url_name
        except Resolver404:
            name = None
        if name in SWITCH_TARGETS:
            return name
    return "dashboard"


# --- Members and invitations ------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@organization_required
def members(request, organization):
    """The organization's members; owners invite new ones by link (shown once)."""
    form = InvitationForm(request.POST or None)
    created_link = None
    status = 200
    if request.method == "POST":
        require(request, Action.MEMBERS_MANAGE, organization)
        if form.is_valid():
            email = form.cleaned_data["email"]
            _, path = invitation_create(
                organization=organization,
                created_by=request.user,
                email=email,
                base_url=f"{request.scheme}://{request.get_host()}",
            )
            created_link = request.build_absolute_uri(path)
            if email:
                messages.success(request, f"Invitation emailed to {email}.")
            form = InvitationForm()
        else:
            status = 400
    memberships = organization.memberships.select_related("user").order_by("created_at", "id")
    invitations = []
    if can(request, Action.MEMBERS_MANAGE, organization):
        invitations = organization.invitations.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).order_by("-created_at")
    return render_page(
        request,
        "accounts/members.html",
        {
            "form": form,
            "memberships": memberships,
            "invitations": invitations,
            "created_link": created_link,
        },
        status=status,
    )


@require_POST
@login_required
@organization_required
def invitation_revoke_view(request, organization, invitation_id):
    require(request, Action.MEMBERS_MANAGE, organization)
    invitation = get_object_for_user(request, Invitation, id=invitation_id)
    invitation_revoke(invitation=invitation)
    messages.success(request, "Invitation revoked; its link no longer works.")
    return redirect("members")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def invitation(request, token: str):
    """An invitation link: sign up or log in, then join the organization."""
    if link_throttled(request):
        return _throttled_page(request)
    pending = _pending_invitation(token)
    if pending is None:
        return render_page(request, "accounts/invitation_invalid.html", status=410)
    already_member = request.user.is_authenticated and (
        membership_get(user=request.user, organization=pending.organization) is not None
    )
    if request.method == "POST":
        if not request.user.is_authenticated:
            return auth_views.redirect_to_login(request.path)
        try:
            membership = invitation_accept(token=token, user=request.user)
        except ValidationError:
            return render_page(request, "accounts/invitation_invalid.html", status=410)
        request.session[SESSION_ORGANIZATION_KEY] = str(membership.organization_id)
        messages.success(request, f"You joined {membership.organization.name}.")
        return redirect("dashboard")
    return render_page(
        request,
        "accounts/invitation.html",
        {"invitation": pending, "token": token, "already_member": already_member},
    )
