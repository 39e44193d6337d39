"""The tenant gate: OrganizationScopedViewSet and get_object_for_user."""

import uuid

import pytest
from django.http import Http404
from django.test import RequestFactory

from accounts.scoping import (
    OrganizationScopedViewSet,
    get_object_for_user,
    organization_for_request,
)
from proxy.models import ProxyEndpoint
from proxy.services import proxy_endpoint_create


@pytest.mark.parametrize("method", ["get_queryset", "filter_queryset", "perform_create"])
def test_a_subclass_cannot_override_the_scoping_methods(method):
    with pytest.raises(TypeError, match=method):
        type("Leaky", (OrganizationScopedViewSet,), {method: lambda self, *args: None})


def test_a_subclass_narrows_rows_through_the_hook(org, other_org, owner):
    class Narrow(OrganizationScopedViewSet):
        queryset = ProxyEndpoint.objects.all()

        def filter_scoped_queryset(self, queryset):
            return queryset.filter(slug__startswith="a")

    alpha = proxy_endpoint_create(organization=org, name="alpha")
    proxy_endpoint_create(organization=org, name="beta")
    proxy_endpoint_create(organization=other_org, name="also alpha", slug="also-alpha")
    view = _view(Narrow, _request_as(owner))

    assert list(view.filter_queryset(view.get_queryset())) == [alpha]


class _Widening(OrganizationScopedViewSet):
    """A hook that (wrongly) returns every row still only sees its organization's."""

    queryset = ProxyEndpoint.objects.all()

    def get_base_queryset(self):
        return ProxyEndpoint.objects.all()

    def filter_scoped_queryset(self, queryset):
        return ProxyEndpoint.objects.all()


def _view(cls, request):
    view = cls()
    view.request = request
    view.format_kwarg = None
    return view


def _request_as(user):
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    return request


def test_a_widening_hook_still_sees_only_the_callers_rows(org, other_org, owner):
    mine = proxy_endpoint_create(organization=org, name="mine")
    proxy_endpoint_create(organization=other_org, name="theirs")
    view = _view(_Widening, _request_as(owner))

    assert list(view.get_queryset()) == [mine]
    assert list(view.filter_queryset(view.get_queryset())) == [mine]


def test_get_object_for_user_returns_the_callers_object(org, owner):
    mine = proxy_endpoint_create(organization=org, name="mine")

    assert get_object_for_user(_request_as(owner), ProxyEndpoint, pk=mine.pk) == mine


@pytest.mark.parametrize("lookup", ["theirs", "unknown", "malformed"])
def test_get_object_for_user_404s_for_anything_not_the_callers(org, other_org, owner, lookup):
    theirs = proxy_endpoint_create(organization=other_org, name="theirs")
    pk = {"theirs": theirs.pk, "unknown": uuid.uuid4(), "malformed": "not-a-uuid"}[lookup]

    with pytest.raises(Http404):
        get_object_for_user(_request_as(owner), ProxyEndpoint, pk=pk)


def test_get_object_for_user_404s_for_an_anonymous_caller(org):
    from django.contrib.auth.models import AnonymousUser

    mine = proxy_endpoint_create(organization=org, name="mine")

    with pytest.raises(Http404):
        get_object_for_user(_request_as(AnonymousUser()), ProxyEndpoint, pk=mine.pk)


def test_organization_for_request_follows_the_session_choice(org, other_org, owner):
    from accounts.services import membership_create

    membership_create(organization=other_org, user=owner)
    request = _request_as(owner)
    request.session["organization_id"] = str(other_org.id)

    assert organization_for_request(request) == other_org


def test_an_answer_computed_before_authentication_is_not_reused_after(org, owner_key):
    """Middleware may ask first, for the anonymous request; DRF's request must not inherit it."""
    from django.contrib.auth.models import AnonymousUser
    from rest_framework.request import Request

    from accounts.authentication import ApiKeyAuthentication

    django_request = RequestFactory().get(
        "/api/proxy-endpoints", HTTP_AUTHORIZATION=f"Bearer {owner_key}"
    )
    django_request.user = AnonymousUser()
    django_request.session = {}
    assert organization_for_request(django_request) is None

    drf_request = Request(django_request, authenticators=[ApiKeyAuthentication()])

    assert organization_for_request(drf_request) == org
