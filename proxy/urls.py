"""Proxy routes. codecosts/asgi.py serves these paths through the lean proxy handler.

Each provider's routes come from its spec (providers.registry): `/proxy/<slug>/<mount>/v1/...`
and, in local mode, `/<local_prefix>/v1/...` for the local endpoint.
"""

from django.conf import settings
from django.urls import path, re_path

from providers.registry import PROVIDERS
from proxy import views

_SLUG = r"(?P<slug>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"


def _mount(spec) -> str:
    return f"{spec.mount}/" if spec.mount else ""


urlpatterns = [
    re_path(rf"^proxy/{_SLUG}/?$", views.proxy_root),
    re_path(rf"^proxy/{_SLUG}/api/hello$", views.proxy_root),
    *(
        re_path(rf"^proxy/{_SLUG}/{_mount(spec)}(?P<rest>v1/.*)$", views.proxy, {"provider": spec.provider})
        # Mounted providers first: the unmounted one's pattern starts right after the slug.
        for spec in sorted(PROVIDERS.values(), key=lambda spec: not spec.mount)
    ),
    re_path(rf"^proxy/{_SLUG}/(?P<path>.*)$", views.proxy_root),
    # Anything else under /proxy/ (an uppercase, Unicode or over-long slug...): the
    # provider's 404, never Django's HTML page.
    re_path(r"^proxy(?:/.*)?$", views.proxy_unknown),
]

if settings.LOCAL_MODE:
    # The local endpoint, at the paths the local proxy documents.
    prefixes = "|".join(spec.local_prefix for spec in PROVIDERS.values())
    urlpatterns += [
        path("anthropic", views.proxy_root, {"slug": "local"}),
        *(
            re_path(rf"^{spec.local_prefix}/(?P<rest>v1/.*)$", views.proxy, {"provider": spec.provider})
            for spec in PROVIDERS.values()
        ),
        re_path(rf"^(?:{prefixes})/(?P<path>.*)$", views.proxy_root, {"slug": "local"}),
    ]
