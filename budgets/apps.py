from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Spend is brought up to date when the usage writer has written a batch.
        from budgets import receivers  # noqa: F401
