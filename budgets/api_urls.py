"""/api/budgets[/<id>] and /api/alert-destinations[/<id>[/deliveries]], without trailing
slashes."""

from rest_framework.routers import SimpleRouter

from budgets.apis import AlertDestinationViewSet, BudgetViewSet

router = SimpleRouter(trailing_slash=False)
router.register("budgets", BudgetViewSet, basename="budget")
router.register("alert-destinations", AlertDestinationViewSet, basename="alert-destination")

urlpatterns = router.urls
