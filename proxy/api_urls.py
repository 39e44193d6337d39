"""/api/proxy-endpoints and /api/proxy-endpoints/<id>, without trailing slashes; local mode's
/api/local/login-link."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from proxy.apis import ProxyEndpointViewSet
from proxy.local_apis import LocalLoginLinkView

router = SimpleRouter(trailing_slash=False)
router.register("proxy-endpoints", ProxyEndpointViewSet, basename="proxy-endpoint")

urlpatterns = [
    *router.urls,
    path("local/login-link", LocalLoginLinkView.as_view(), name="local_login_link"),
]
