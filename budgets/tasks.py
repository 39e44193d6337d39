"""Celery tasks of budgets: alert deliveries, sent off the request path."""

import logging

from celery import shared_task

logger = logging.getLogger("codecosts.budgets")


@shared_task(name="budgets.tasks.alert_deliver")
def alert_deliver(delivery_id: int) -> None:
    """Send one alert to one destination (budgets.alerts)."""
    from budgets.alerts import alert_delivery_send

    alert_delivery_send(delivery_id)


@shared_task(name="budgets.tasks.budgets_refresh_all")
def budgets_refresh_all() -> int:
    """Every minute (Celery beat): recount every hard-limited budget and publish its state."""
    from budgets.services import budgets_refresh_all as refresh

    return refresh()
