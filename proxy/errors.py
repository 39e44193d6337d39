"""Errors Codecosts itself returns on proxy routes, in the provider's own shape.

SDKs then raise their usual typed errors (anthropic.RateLimitError, openai.NotFoundError...).
The shapes are the providers' (providers/<name>/errors.py); this module picks the provider
a path speaks for and wraps the body in a response.
"""

from django.conf import settings
from django.http import HttpResponse

from providers.registry import PROVIDERS, spec_for
from providers.spec import Provider

# Provider mounts under /proxy/<slug>/ and local prefixes, e.g. "/openai/" -> OPENAI.
_MOUNTS = {f"/{spec.mount}/": spec.provider for spec in PROVIDERS.values() if spec.mount}
_LOCAL = {f"/{spec.local_prefix}/": spec.provider for spec in PROVIDERS.values()}
_LOCAL_PREFIXES = tuple(prefix.rstrip("/") for prefix in _LOCAL)
# The provider served at the endpoint's own root (no mount).
_UNMOUNTED = next(spec.provider for spec in PROVIDERS.values() if not spec.mount)


def is_proxy_path(path: str) -> bool:
    """Whether a path is a proxy route, whose every answer is in the provider's shape."""
    return path.startswith("/proxy/") or path == "/proxy" or (
        settings.LOCAL_MODE and path.startswith(_LOCAL_PREFIXES)
    )


def provider_for_path(path: str) -> Provider:
    """The provider a proxy path speaks for: /proxy/<slug>/openai/... and /openai/... are OpenAI."""
    for prefix, provider in _LOCAL.items():
        if path.startswith(prefix):
            return provider
    if path.startswith("/proxy/"):
        rest = path[len("/proxy/"):]
        slash = rest.find("/")
        if slash != -1:
            for mount, provider in _MOUNTS.items():
                if rest.startswith(mount, slash):
                    return provider
    return _UNMOUNTED


def error_body(provider: str, status: int, message: str, code: str | None = None) -> bytes:
    return spec_for(provider).error_body(status, message, code)


def error_response(
    provider: str, status: int, message: str, *, code: str | None = None, headers=None
) -> HttpResponse:
    return HttpResponse(
        error_body(provider, status, message, code),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def stream_error_event(provider: str, status: int, message: str) -> bytes:
    """An SSE error event for a stream that already started and cannot change status."""
    return spec_for(provider).stream_error_event(status, message)
