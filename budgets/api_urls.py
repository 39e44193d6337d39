"""/api/budgets and /api/budgets/<id>, without trailing slashes."""

from rest_framework.routers import SimpleRouter

from budgets.apis import BudgetViewSet

router = SimpleRouter(trailing_slash=False)
router.register("budgets", BudgetViewSet, basename="budget")

urlpatterns = router.urls
