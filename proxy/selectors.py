"""Reads for proxy endpoints."""

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import Organization
from proxy.models import ProxyEndpoint

# The shared-cache key under which the proxy keeps an endpoint lookup (or its absence).
# Every endpoint write deletes it; see proxy.services. The version changes with the
# cached tuple's shape, so processes of two releases never read each other's entries.
ENDPOINT_CACHE_KEY = "proxy-endpoint:v2:{slug}"


def proxy_endpoint_cache_key(*, slug: str) -> str:
    return ENDPOINT_CACHE_KEY.format(slug=slug)


def proxy_endpoint_list(*, organization: Organization) -> QuerySet[ProxyEndpoint]:
    """The organization's live endpoints, oldest first."""
    return ProxyEndpoint.objects.filter(organization=organization).order_by("created_at", "id")


def proxy_endpoint_slug_taken(*, slug: str) -> bool:
    """Whether any organization has, or had, an endpoint with this slug (slugs are global)."""
    return ProxyEndpoint.all_objects.filter(slug=slug).exists()


def proxy_endpoint_url(*, endpoint: ProxyEndpoint, request=None) -> str:
    """The base URL a client points its SDK at: PUBLIC_URL, else the request's host."""
    path = f"/proxy/{endpoint.slug}"
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL + path
    if request is not None:
        return request.build_absolute_uri(path)
    return path
