"""The proxy endpoints REST API: /api/proxy-endpoints[/<id>]."""

from rest_framework import mixins, status
from rest_framework.response import Response

from accounts.permissions import Action
from accounts.scoping import OrganizationScopedViewSet
from proxy.models import ProxyEndpoint
from proxy.serializers import (
    ProxyEndpointCreateInputSerializer,
    ProxyEndpointSerializer,
    ProxyEndpointUpdateInputSerializer,
)
from proxy.services import proxy_endpoint_create, proxy_endpoint_delete, proxy_endpoint_update


class ProxyEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrganizationScopedViewSet
):
    """List (oldest first), create, read, rename or re-limit, and delete endpoints."""

    queryset = ProxyEndpoint.objects.all()
    serializer_class = ProxyEndpointSerializer
    actions_required = {
        "list": Action.VIEW,
        "retrieve": Action.VIEW,
        "create": Action.ENDPOINT_CREATE,
        "partial_update": Action.ENDPOINT_CHANGE,
        "destroy": Action.ENDPOINT_DELETE,
    }

    def create(self, request):
        data = ProxyEndpointCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = proxy_endpoint_create(
            organization=self.get_organization(), **data.validated_data
        )
        return Response(self.get_serializer(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = ProxyEndpointUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = proxy_endpoint_update(endpoint=endpoint, **data.validated_data)
        return Response(self.get_serializer(endpoint).data)

    def destroy(self, request, pk=None):
        proxy_endpoint_delete(endpoint=self.get_object())
        return Response({"ok": True})
