from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from budgets import provisional, receivers  # noqa: F401 - receivers connect on import
        from usage import pipeline

        # Spend is counted as calls end (web processes), then exactly as logs are written.
        if provisional.account not in pipeline.record_hooks:
            pipeline.record_hooks.append(provisional.account)
