"""Who may do what: one rule per action, for the REST API and the pages alike.

A caller's role in an organization is its membership's (owner or member); a `full`
API key acts as an owner of its own organization; a `proxy` key has no role at all (it
is only good as x-codecosts-key on proxied calls). Views never compare roles
themselves: API viewsets name the action of each of their actions
(`ActionPermission`), pages call `require(request, action, organization)`.
"""

import enum

from django.core.exceptions import PermissionDenied
from rest_framework import exceptions, permissions

from accounts.authentication import ApiKeyPrincipal
from accounts.models import ApiKey, Membership
from accounts.selectors import membership_get

OWNER = Membership.Role.OWNER
MEMBER = Membership.Role.MEMBER


class Action(enum.StrEnum):
    VIEW = "view"  # dashboards, logs, sessions, endpoints and the list of keys
    SESSION_MANAGE = "session.manage"  # start and end work sessions
    ENDPOINT_CREATE = "endpoint.create"
    ENDPOINT_CHANGE = "endpoint.change"  # rename, rate limit, lock or unlock
    ENDPOINT_DELETE = "endpoint.delete"
    API_KEY_MANAGE = "api_key.manage"  # create and revoke keys
    MEMBERS_MANAGE = "members.manage"  # invite people, revoke invitations
    BUDGET_MANAGE = "budget.manage"  # create, change and delete budgets and alert destinations
    # The organization's own settings: name, time zone, retention and redaction patterns.
    ORGANIZATION_MANAGE = "organization.manage"


RULES: dict[Action, frozenset[str]] = {
    Action.VIEW: frozenset({OWNER, MEMBER}),
    Action.SESSION_MANAGE: frozenset({OWNER, MEMBER}),
    Action.ENDPOINT_CREATE: frozenset({OWNER, MEMBER}),
    Action.ENDPOINT_CHANGE: frozenset({OWNER}),
    Action.ENDPOINT_DELETE: frozenset({OWNER}),
    Action.API_KEY_MANAGE: frozenset({OWNER}),
    Action.MEMBERS_MANAGE: frozenset({OWNER}),
    Action.BUDGET_MANAGE: frozenset({OWNER}),
    Action.ORGANIZATION_MANAGE: frozenset({OWNER}),
}

_REFUSALS = {
    Action.VIEW: "Only members of the organization can see this.",
    Action.SESSION_MANAGE: "Only members of the organization can start or end sessions.",
    Action.ENDPOINT_CREATE: "Only members of the organization can create endpoints.",
    Action.ENDPOINT_CHANGE: "Only an owner of the organization can change an endpoint.",
    Action.ENDPOINT_DELETE: "Only an owner of the organization can delete an endpoint.",
    Action.API_KEY_MANAGE: "Only an owner of the organization can create or revoke API keys.",
    Action.MEMBERS_MANAGE: "Only an owner of the organization can invite or remove people.",
    Action.BUDGET_MANAGE: "Only an owner of the organization can change budgets.",
    Action.ORGANIZATION_MANAGE: "Only an owner of the organization can change its settings.",
}
PROXY_KEY_REFUSAL = (
    "This is a proxy key: it is only accepted as x-codecosts-key on proxied calls, "
    "not by the REST API."
)


def role_for(request, organization) -> str | None:
    """The caller's role in `organization` ("owner", "member"), or None."""
    user = getattr(request, "user", None)
    if organization is None or user is None or not user.is_authenticated:
        return None
    if isinstance(user, ApiKeyPrincipal):
        api_key = user.api_key
        if api_key.scope == ApiKey.Scope.FULL and api_key.organization_id == organization.pk:
            return OWNER
        return None
    membership = membership_get(user=user, organization=organization)
    return membership.role if membership else None


def can(request, action: Action, organization) -> bool:
    return role_for(request, organization) in RULES[action]


def require(request, action: Action, organization) -> None:
    """Raise PermissionDenied (403) unless the caller may do `action` in `organization`."""
    if not can(request, action, organization):
        raise PermissionDenied(_REFUSALS[action])


class ActionPermission(permissions.BasePermission):
    """DRF's side of the rules: a viewset maps each of its actions to an `Action`.

    `view.actions_required = {"list": Action.VIEW, ...}`; an action missing from the map
    is refused, so a new endpoint is closed until someone decides who may use it.
    """

    def has_permission(self, request, view) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False  # DRF answers 401
        if isinstance(user, ApiKeyPrincipal) and user.api_key.scope != ApiKey.Scope.FULL:
            raise exceptions.PermissionDenied(PROXY_KEY_REFUSAL)
        if view.action is None:
            return True  # a method the viewset does not route: DRF answers 405
        action = getattr(view, "actions_required", {}).get(view.action)
        if action is None:
            raise exceptions.PermissionDenied("This action is not available.")
        organization = view.get_organization()
        if not can(request, action, organization):
            raise exceptions.PermissionDenied(_REFUSALS[action])
        return True
