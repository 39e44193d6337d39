"""Proxy routes. codecosts/asgi.py serves these paths through the lean proxy handler."""

from django.conf import settings
from django.urls import path, re_path

from proxy import views
from proxy.errors import ANTHROPIC, OPENAI

_SLUG = r"(?P<slug>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"

urlpatterns = [
    re_path(rf"^proxy/{_SLUG}/?$", views.proxy_root),
    re_path(rf"^proxy/{_SLUG}/api/hello$", views.proxy_root),
    re_path(rf"^proxy/{_SLUG}/openai/(?P<rest>v1/.*)$", views.proxy, {"provider": OPENAI}),
    re_path(rf"^proxy/{_SLUG}/(?P<rest>v1/.*)$", views.proxy, {"provider": ANTHROPIC}),
    re_path(rf"^proxy/{_SLUG}/(?P<path>.*)$", views.proxy_root),
    # Anything else under /proxy/ (an uppercase, Unicode or over-long slug...): the
    # provider's 404, never Django's HTML page.
    re_path(r"^proxy(?:/.*)?$", views.proxy_unknown),
]

if settings.LOCAL_MODE:
    # The local endpoint, at the paths the local proxy documents.
    urlpatterns += [
        path("anthropic", views.proxy_root, {"slug": "local"}),
        re_path(r"^anthropic/(?P<rest>v1/.*)$", views.proxy, {"provider": ANTHROPIC}),
        re_path(r"^openai/(?P<rest>v1/.*)$", views.proxy, {"provider": OPENAI}),
        re_path(r"^(?:anthropic|openai)/(?P<path>.*)$", views.proxy_root, {"slug": "local"}),
    ]
