"""Local mode's own API: a fresh one-time dashboard link for `codecosts open`."""

from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyPrincipal
from accounts.models import LoginLink
from accounts.services import login_link_create
from proxy.models import LOCAL_SLUG, LOCAL_USERNAME, ProxyEndpoint


class LocalLoginLinkView(APIView):
    """POST /api/local/login-link → 201 {"url": "/login/link/<token>", "valid_minutes": 15}.

    Only in local mode, and only for an API key of the local organization (the one
    `codecosts` keeps in var/cli-key): it signs the browser in as local mode's user,
    who owns that organization. Anywhere else the route does not exist.
    """

    def post(self, request):
        if not settings.LOCAL_MODE:
            raise exceptions.NotFound()
        local = ProxyEndpoint.objects.filter(slug=LOCAL_SLUG).only("organization_id").first()
        user = get_user_model().objects.filter(username=LOCAL_USERNAME, is_active=True).first()
        principal = request.user
        if (
            local is None
            or user is None
            or not isinstance(principal, ApiKeyPrincipal)
            or principal.api_key.organization_id != local.organization_id
        ):
            raise exceptions.PermissionDenied(
                "Only an API key of the local organization (var/cli-key) can open the dashboard."
            )
        return Response(
            {"url": login_link_create(user=user), "valid_minutes": LoginLink.LIFETIME_MINUTES},
            status=status.HTTP_201_CREATED,
        )
