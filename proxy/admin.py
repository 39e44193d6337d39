from django import forms
from django.contrib import admin

from proxy.models import ProxyEndpoint
from proxy.services import RATE_LIMIT_MAX, proxy_endpoint_delete, proxy_endpoint_update


class ProxyEndpointForm(forms.ModelForm):
    class Meta:
        model = ProxyEndpoint
        fields = ["name", "rate_limit_per_minute", "require_key"]

    def clean_rate_limit_per_minute(self):
        value = self.cleaned_data["rate_limit_per_minute"]
        if value is not None and not 1 <= value <= RATE_LIMIT_MAX:
            raise forms.ValidationError(
                f"Between 1 and {RATE_LIMIT_MAX}, or empty for the default."
            )
        return value


@admin.register(ProxyEndpoint)
class ProxyEndpointAdmin(admin.ModelAdmin):
    """Endpoints are created on the Settings page or through the API (slug rules live in
    proxy.services); here staff rename, rate-limit and delete them, through the same
    services so the proxy's cached lookup is dropped on every write."""

    form = ProxyEndpointForm
    list_display = ["slug", "name", "organization", "rate_limit_per_minute", "require_key", "created_at"]
    list_filter = ["require_key"]
    list_select_related = ["organization"]
    search_fields = ["slug", "name", "organization__name"]
    readonly_fields = ["id", "organization", "slug", "created_at"]
    fields = ["id", "organization", "slug", "name", "rate_limit_per_minute", "require_key", "created_at"]
    ordering = ["-created_at"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        proxy_endpoint_update(
            endpoint=obj,
            name=form.cleaned_data["name"],
            rate_limit_per_minute=form.cleaned_data["rate_limit_per_minute"],
            require_key=form.cleaned_data["require_key"],
        )

    def delete_model(self, request, obj):
        proxy_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            proxy_endpoint_delete(endpoint=endpoint)
