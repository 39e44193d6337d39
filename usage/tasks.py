"""Celery tasks: thin wrappers that take primitives and call a service.

usage_log_record_batch writes a batch of usage records. It is idempotent (records are keyed by
their id), so it is acknowledged late: a worker killed mid-task has its message
delivered again once the broker's visibility timeout (settings) passes. While the
database is unreachable it retries with backoff; after MAX_RETRIES the batch goes to
the dead letters (usage.dead_letters), never away. A batch the database refuses for
what it holds is split until the refused record is alone, which is written without its
bodies, and kept as a dead letter if even that is refused. A batch whose requests refer
to body pieces that an earlier batch carries, still being written by another worker,
waits for them a few times (usage.bodystore.store), then is written as it is.

usage_retention, every hour from Celery beat, deletes what the organizations' retention
lets go (usage.services.retention).
"""

import logging

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from codecosts.celery import USAGE_SERIALIZER
from usage.bodystore.store import PiecesMissing
from usage.dead_letters import dead_letter_batch
from usage.records import record_from_payload, without_bodies
from usage.services.logs import usage_log_record_many

logger = logging.getLogger("codecosts.usage")

# About 50 min of retries at the backoff cap, which stays below the broker's visibility
# timeout (60 s), so a message waiting for its retry is not taken for one whose worker died.
MAX_RETRIES = 100
RETRY_BACKOFF_MAX_SECONDS = 30
# An earlier batch is written within a second or two; a piece that takes longer was lost.
PIECES_WAIT_RETRIES = 3
PIECES_WAIT_SECONDS = 1


# max_retries=None: the limit is MAX_RETRIES, after which the batch is kept, not dropped.
@shared_task(
    bind=True, name="usage.tasks.usage_log_record_batch", acks_late=True, max_retries=None,
    serializer=USAGE_SERIALIZER,
)
def usage_log_record_batch(self, payloads: list[dict]) -> int:
    """Write a batch of usage records; safe to run twice (records are keyed by their id)."""
    try:
        return usage_log_record_isolating(payloads, missing_ok=self.request.retries >= PIECES_WAIT_RETRIES)
    except PiecesMissing as error:
        raise self.retry(exc=error, countdown=PIECES_WAIT_SECONDS) from error
    except (OperationalError, InterfaceError) as error:
        retries = self.request.retries
        if retries >= MAX_RETRIES:
            dead_letter_batch(payloads, f"database unreachable after {retries} retries: {error!r}")
            return 0
        countdown = min(RETRY_BACKOFF_MAX_SECONDS, 2**retries)
        raise self.retry(exc=error, countdown=countdown) from error


def usage_log_record_isolating(payloads: list[dict], *, missing_ok: bool = False) -> int:
    """Write a batch; when the database refuses it for what it holds (not for being
    unreachable), write its halves apart until the refused record is alone."""
    try:
        return usage_log_record_many(
            records=[record_from_payload(payload) for payload in payloads], missing_ok=missing_ok
        )
    except (OperationalError, InterfaceError, PiecesMissing):
        raise
    except (DatabaseError, ValueError) as error:
        if len(payloads) > 1:
            middle = len(payloads) // 2
            return usage_log_record_isolating(payloads[:middle], missing_ok=missing_ok) + usage_log_record_isolating(
                payloads[middle:], missing_ok=missing_ok
            )
        (payload,) = payloads
        if not payload.get("bodies_dropped"):
            logger.warning("usage record %s refused (%r); writing it without its bodies", payload.get("id"), error)
            return usage_log_record_isolating([without_bodies(payload)], missing_ok=missing_ok)
        dead_letter_batch(payloads, f"refused by the database: {error!r}")
        return 0


# On the default queue, beside alert deliveries: a long run must not hold a thread of the
# usage queue's workers, which write the logs.
@shared_task(name="usage.tasks.usage_retention", queue="default", ignore_result=True)
def usage_retention() -> dict:
    """Every hour (Celery beat): delete the bodies, logs and body pieces whose retention
    ended, organization by organization (usage.services.retention)."""
    from usage.services.retention import retention_run_all

    results = retention_run_all()
    return {
        "organizations": len(results),
        "bodies": sum(result.bodies for result in results),
        "logs": sum(result.logs for result in results),
        "pieces": sum(result.pieces for result in results),
        "failed": sum(1 for result in results if result.error),
    }
