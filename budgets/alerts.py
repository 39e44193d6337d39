"""Budget alerts on their way: email, signed webhooks and Slack (to be completed)."""

import logging

logger = logging.getLogger("codecosts.budgets")


def alert_delivery_send(delivery_id: int) -> None:
    logger.info("alert delivery %s: sending is not built yet", delivery_id)
