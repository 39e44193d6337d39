"""Shapes of the organization API: types in, JSON out. Rules live in
accounts.organization_settings."""

from rest_framework import exceptions, serializers

from accounts.models import Organization


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "time_zone",
            "body_retention_days",
            "usage_retention_days",
            "redaction_patterns",
        ]
        read_only_fields = fields


class OrganizationUpdateInputSerializer(serializers.Serializer):
    # Blank values pass through so the service gives its own message for them.
    name = serializers.CharField(required=False, allow_blank=True)
    time_zone = serializers.CharField(required=False, allow_blank=True)
    body_retention_days = serializers.IntegerField(required=False)
    usage_retention_days = serializers.IntegerField(required=False, allow_null=True)
    # Exactly as written: a space can be part of a regular expression.
    redaction_patterns = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False
    )

    def to_internal_value(self, data):
        # A misspelt setting must not look accepted (DRF would drop it silently).
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                settable = ", ".join(self.fields)
                raise exceptions.ValidationError(
                    {
                        field: [
                            exceptions.ErrorDetail(
                                f"{field} is not a setting that can be changed (these are: {settable})",
                                code="unknown_field",
                            )
                        ]
                        for field in unknown
                    }
                )
        return super().to_internal_value(data)
