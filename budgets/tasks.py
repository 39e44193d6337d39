"""Celery tasks of budgets: alert deliveries, sent off the request path (queue "default"),
and the periodic recount of hard-limited budgets."""

import logging

from celery import shared_task

from budgets.alerts import EAGER_MAX_ATTEMPTS, MAX_ATTEMPTS, alert_delivery_attempt, retry_countdown
from budgets.models import AlertDelivery

logger = logging.getLogger("codecosts.budgets")


@shared_task(bind=True, name="budgets.tasks.alert_deliver", max_retries=None, ignore_result=True)
def alert_deliver(self, delivery_id: int, attempt: int = 1) -> None:
    """Send one alert to one destination (budgets.alerts); on failure, try again later.

    Attempts are counted on the delivery, not by Celery (hence no max_retries). With a
    worker the retry waits 10, 20, 40, 50, then 50 s. Run eagerly (local mode, no broker:
    inside the usage writer) the attempts are made back to back in this call, at most
    EAGER_MAX_ATTEMPTS of them: sleeping would hold the writer, and Celery's eager retry
    would both skip the countdown and raise its Retry into the writer.
    """
    if self.request.is_eager:
        status = AlertDelivery.Status.PENDING
        while status == AlertDelivery.Status.PENDING:
            status = alert_delivery_attempt(
                delivery_id=delivery_id, attempt=attempt, max_attempts=EAGER_MAX_ATTEMPTS
            )
            attempt += 1
        return
    status = alert_delivery_attempt(
        delivery_id=delivery_id, attempt=attempt, max_attempts=MAX_ATTEMPTS
    )
    if status == AlertDelivery.Status.PENDING:
        raise self.retry(
            args=(delivery_id, attempt + 1), kwargs={}, countdown=retry_countdown(attempt)
        )


@shared_task(name="budgets.tasks.budgets_refresh_all")
def budgets_refresh_all() -> int:
    """Every minute (Celery beat): recount every hard-limited budget and publish its state."""
    from budgets.services import budgets_refresh_all as refresh

    return refresh()
