from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from budgets import provisional, receivers, services, state  # noqa: F401 - receivers connect
        from usage import pipeline

        if services.budgets_refresh_all not in state.on_local_start:
            state.on_local_start.append(services.budgets_refresh_all)
        # Spend is counted as calls end (web processes), then exactly as logs are written.
        if provisional.account not in pipeline.record_hooks:
            pipeline.record_hooks.append(provisional.account)
