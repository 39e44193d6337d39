"""Reads for proxy endpoints."""

from proxy.models import ProxyEndpoint

# The shared-cache key under which the proxy keeps an endpoint lookup (or its absence).
# Every endpoint write deletes it; see proxy.services. The version changes with the
# cached tuple's shape, so processes of two releases never read each other's entries.
ENDPOINT_CACHE_KEY = "proxy-endpoint:v3:{slug}"


def proxy_endpoint_cache_key(*, slug: str) -> str:
    return ENDPOINT_CACHE_KEY.format(slug=slug)


def proxy_endpoint_slug_taken(*, slug: str) -> bool:
    """Whether any organization has, or had, an endpoint with this slug (slugs are global)."""
    return ProxyEndpoint.all_objects.filter(slug=slug).exists()
