"""Celery tasks: thin wrappers that take primitives and call a service."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from usage.records import record_from_payload
from usage.services.logs import usage_log_record_many


@shared_task(
    name="usage.tasks.usage_log_record_batch",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=50,
)
def usage_log_record_batch(payloads: list[dict]) -> int:
    """Write a batch of usage records; safe to run twice (records are keyed by their id)."""
    return usage_log_record_many(records=[record_from_payload(payload) for payload in payloads])
