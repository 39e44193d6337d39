"""Shapes of the proxy endpoints API: types in, JSON out. Rules live in proxy.services."""

from rest_framework import serializers

from proxy.models import ProxyEndpoint


class ProxyEndpointSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = ProxyEndpoint
        fields = ["id", "name", "slug", "url", "created_at", "rate_limit_per_minute", "require_key", "store_bodies"]
        read_only_fields = fields

    def get_url(self, endpoint: ProxyEndpoint) -> str:
        return endpoint.base_url(self.context.get("request"))


class ProxyEndpointCreateInputSerializer(serializers.Serializer):
    # Blank values pass through so the service gives its own message for them.
    name = serializers.CharField(allow_blank=True)
    slug = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    rate_limit_per_minute = serializers.IntegerField(required=False, allow_null=True)
    # Omitted: locked in hosted mode, open in local mode (proxy.services).
    require_key = serializers.BooleanField(required=False)
    # full, request_only or metadata_only; any other value gets the service's message.
    store_bodies = serializers.CharField(required=False)


class ProxyEndpointUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    slug = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    rate_limit_per_minute = serializers.IntegerField(required=False, allow_null=True)
    require_key = serializers.BooleanField(required=False)
    store_bodies = serializers.CharField(required=False)
