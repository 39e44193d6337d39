"""Budgets follow usage: after each batch of logs, the budgets covering them are refreshed."""

import logging

from django.dispatch import receiver

from budgets.services import budgets_after_logs
from usage.models import UsageLog
from usage.signals import usage_logs_written

logger = logging.getLogger("codecosts.budgets")


@receiver(usage_logs_written, sender=UsageLog, dispatch_uid="budgets_after_logs")
def _usage_logs_written(sender, logs, **kwargs):
    try:
        budgets_after_logs(logs)
    except Exception:  # noqa: BLE001 - the logs are written; budgets catch up on the next batch
        logger.exception("budgets could not follow %d usage logs", len(logs))
