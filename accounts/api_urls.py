"""/api/organization: the caller's organization (GET, PATCH)."""

from django.urls import path

from accounts.apis import OrganizationViewSet

urlpatterns = [
    path(
        "organization",
        OrganizationViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="organization-detail",
    ),
]
