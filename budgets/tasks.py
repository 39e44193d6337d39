"""Celery tasks of budgets: alert deliveries, sent off the request path."""

import logging

from celery import shared_task

logger = logging.getLogger("codecosts.budgets")


@shared_task(name="budgets.tasks.alert_deliver")
def alert_deliver(delivery_id: int) -> None:
    """Send one alert to one destination (budgets.alerts)."""
    from budgets.alerts import alert_delivery_send

    alert_delivery_send(delivery_id)
