"""The organization REST API: `GET|PATCH /api/organization`, the caller's current one
(a key's organization, or the one a signed-in user has switched to)."""

from rest_framework.response import Response

from accounts.organization_settings import organization_settings_update
from accounts.permissions import Action
from accounts.scoping import OrganizationScopedViewSet
from accounts.serializers import OrganizationSerializer, OrganizationUpdateInputSerializer


class OrganizationViewSet(OrganizationScopedViewSet):
    """Read (members) and change (owners) the caller's organization's settings.

    There is no list and no id in the path: the one object is `get_organization()`, the
    tenant gate's own answer, so no other organization can be named.
    """

    serializer_class = OrganizationSerializer
    actions_required = {
        "retrieve": Action.VIEW,
        "partial_update": Action.ORGANIZATION_MANAGE,
    }

    def retrieve(self, request):
        return Response(OrganizationSerializer(self.get_organization()).data)

    def partial_update(self, request):
        data = OrganizationUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = organization_settings_update(
            organization=self.get_organization(), **data.validated_data
        )
        return Response(OrganizationSerializer(organization).data)
