"""/api/usage-logs, /api/usage/summary and /api/sessions, without trailing slashes."""

from rest_framework.routers import SimpleRouter

from usage.apis import SessionViewSet, UsageLogViewSet, UsageSummaryViewSet

router = SimpleRouter(trailing_slash=False)
router.register("usage-logs", UsageLogViewSet, basename="usage-log")
router.register("usage/summary", UsageSummaryViewSet, basename="usage-summary")
router.register("sessions", SessionViewSet, basename="session")

urlpatterns = router.urls
