"""Budgets follow usage (after each batch of logs, the budgets covering them are
refreshed) and the organization's time zone, and alerts go to Celery once they are
committed."""

import logging

from django.dispatch import receiver

from accounts.models import Organization
from accounts.signals import organization_changed
from budgets.models import BudgetAlert
from budgets.services import budgets_after_logs, budgets_zone_follow
from budgets.signals import alert_deliveries_opened
from budgets.tasks import alert_deliver
from usage.models import UsageLog
from usage.signals import usage_logs_written

logger = logging.getLogger("codecosts.budgets")


@receiver(usage_logs_written, sender=UsageLog, dispatch_uid="budgets_after_logs")
def _usage_logs_written(sender, logs, **kwargs):
    try:
        budgets_after_logs(logs)
    except Exception:  # noqa: BLE001 - the logs are written; budgets catch up on the next batch
        logger.exception("budgets could not follow %d usage logs", len(logs))


@receiver(alert_deliveries_opened, sender=BudgetAlert, dispatch_uid="budgets_alert_deliver")
def _alert_deliveries_opened(sender, delivery_ids, **kwargs):
    for delivery_id in delivery_ids:
        alert_deliver.delay(delivery_id)


@receiver(organization_changed, sender=Organization, dispatch_uid="budgets_zone_follow")
def _organization_changed(sender, organization, fields, **kwargs):
    if "time_zone" not in fields:
        return
    try:
        budgets_zone_follow(organization)
    except Exception:  # noqa: BLE001 - the zone is set; the minutely refresh catches up
        logger.exception("budgets could not follow the time zone of organization %s", organization.pk)
