"""/api/proxy-endpoints and /api/proxy-endpoints/<id>, without trailing slashes."""

from rest_framework.routers import SimpleRouter

from proxy.apis import ProxyEndpointViewSet

router = SimpleRouter(trailing_slash=False)
router.register("proxy-endpoints", ProxyEndpointViewSet, basename="proxy-endpoint")

urlpatterns = router.urls
