"""The one tenant gate: every API viewset and page reads through here.

Rule: code that serves a caller never queries an organization-owned model directly.
API viewsets subclass `OrganizationScopedViewSet`; pages fetch single objects with
`get_object_for_user` (wrapped as `_get_<thing>_for_user` in the page module) and lists
through a selector given `organization_for_request(request)`.
"""

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework import exceptions, viewsets

from accounts.authentication import ApiKeyPrincipal
from accounts.models import Organization
from accounts.permissions import ActionPermission
from accounts.selectors import organization_for_user
from codecosts.api import CursorPagination

# Session key holding the organization a browser user has switched to.
SESSION_ORGANIZATION_KEY = "organization_id"

_CACHE_ATTRIBUTE = "_codecosts_organization"


def organization_for_request(request) -> Organization | None:
    """Return the caller's organization, or None when there is none.

    API key: the key's organization. Logged-in user: the session's `organization_id`
    if they are a member of it, else their first membership's organization.
    """
    user = getattr(request, "user", None)
    # Cached per request and per principal: DRF's Request falls back to the Django
    # request's attributes, which may have been computed before authentication ran.
    cached = getattr(request, _CACHE_ATTRIBUTE, None)
    if cached is not None and cached[0] is user:
        return cached[1]
    if isinstance(user, ApiKeyPrincipal):
        organization = user.organization
    elif user is not None and user.is_authenticated:
        session = getattr(request, "session", None)
        chosen = session.get(SESSION_ORGANIZATION_KEY) if session is not None else None
        organization = organization_for_user(user=user, organization_id=chosen)
    else:
        organization = None
    setattr(request, _CACHE_ATTRIBUTE, (user, organization))
    return organization


def get_object_for_user(
    request, model_or_queryset, *, organization_field: str = "organization", **lookup
) -> Model:
    """Return the one object matching `lookup` in the caller's organization, else 404.

    Another organization's object, a malformed id and a missing object all look the
    same to the caller: 404.
    """
    organization = organization_for_request(request)
    if organization is None:
        raise Http404("No organization.")
    if isinstance(model_or_queryset, QuerySet):
        queryset = model_or_queryset
    else:
        queryset = model_or_queryset._default_manager.all()
    queryset = queryset.filter(**{organization_field: organization})
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None


_FINAL_METHODS = ("get_queryset", "filter_queryset", "perform_create")


class OrganizationScopedViewSet(viewsets.GenericViewSet):
    """A viewset that only ever sees the caller's organization's rows.

    Subclasses set `queryset` (or override `get_base_queryset`) and may narrow it in
    `filter_scoped_queryset`; both pass through the organization filter afterwards.
    `get_queryset`, `filter_queryset` and `perform_create` are final: defining them in
    a subclass is a TypeError at import time, so the gate cannot be bypassed by
    accident. Set `organization_field` when the model reaches its organization through
    a relation (e.g. "endpoint__organization").

    Writes that go through a service take `self.get_organization()`; writes that go
    through `serializer.save()` get the organization from `perform_create`.
    """

    organization_field = "organization"
    pagination_class = CursorPagination
    # Who may call each action: {"list": Action.VIEW, ...} (accounts.permissions).
    permission_classes = [ActionPermission]
    actions_required: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        overridden = [name for name in _FINAL_METHODS if name in cls.__dict__]
        if overridden:
            raise TypeError(
                f"{cls.__name__} overrides {', '.join(overridden)}: organization-scoped "
                "viewsets narrow rows in get_base_queryset or filter_scoped_queryset."
            )

    def get_organization(self) -> Organization:
        """Return the caller's organization; 403 for a user who belongs to none."""
        organization = organization_for_request(self.request)
        if organization is None:
            user = getattr(self.request, "user", None)
            if user is None or not user.is_authenticated:
                raise exceptions.NotAuthenticated()
            raise exceptions.PermissionDenied("You are not a member of any organization.")
        return organization

    def get_base_queryset(self) -> QuerySet:
        """Hook: the rows before scoping; defaults to `self.queryset`."""
        return super().get_queryset()

    def filter_scoped_queryset(self, queryset: QuerySet) -> QuerySet:
        """Hook: narrow the rows by request parameters (never client-chosen ordering)."""
        return queryset

    def _scope(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(**{self.organization_field: self.get_organization()})

    def get_queryset(self) -> QuerySet:
        return self._scope(self.get_base_queryset())

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = self.filter_scoped_queryset(super().filter_queryset(queryset))
        # Scope again: a hook that returned a fresh queryset must not widen the rows.
        return self._scope(queryset)

    def perform_create(self, serializer):
        if "__" in self.organization_field:
            raise ImproperlyConfigured(
                f"{type(self).__name__} reaches its organization through a relation; "
                "create its objects through a service instead."
            )
        serializer.save(**{self.organization_field: self.get_organization()})
