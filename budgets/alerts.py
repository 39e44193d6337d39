"""Budget alerts on their way: one attempt at one delivery, by email, signed webhook or Slack.

`alert_delivery_attempt` makes attempt number `attempt` of a delivery and records how it
went; budgets.tasks.alert_deliver retries it with backoff (`retry_countdown`). An
attempt is claimed by moving the row's `attempts` from `attempt - 1` to `attempt`, so a
delivery already sent or failed, or a second copy of the same task (the Redis transport
hands an unacknowledged countdown task out again after its visibility timeout), sends
nothing.

Webhooks are signed like Stripe's, so a receiver can check who sent the body and refuse
a replay: `x-codecosts-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
f"{t}.{body}")>`, and `x-codecosts-delivery: <delivery id>` names the delivery (the
same on every attempt, for receivers that deduplicate).
"""

import hashlib
import hmac
import logging
import smtplib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import orjson
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from budgets import outbound
from budgets.models import AlertDelivery, AlertDestination, Budget, BudgetAlert
from budgets.periods import period_bounds
from usage.money import cents, dollars_display

logger = logging.getLogger("codecosts.budgets")

# With a worker: 6 attempts, 10, 20, 40, 50 and 50 s apart (under 3 minutes in all). The
# cap stays below the broker's visibility timeout (60 s, settings), past which the Redis
# transport would hand a task still waiting for its countdown out a second time.
MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 50
# Without a broker (local mode) tasks run inline in the usage writer's thread and
# Celery's eager retry runs the next attempt at once, ignoring the countdown: 3 attempts
# back to back, so a dead receiver holds the writer at most 3 × 5 s, never minutes.
EAGER_MAX_ATTEMPTS = 3

SIGNATURE_HEADER = "x-codecosts-signature"
DELIVERY_HEADER = "x-codecosts-delivery"


def retry_countdown(attempt: int) -> int:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): doubling, capped."""
    return min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_MAX_SECONDS)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The x-codecosts-signature value of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class Result:
    sent: bool
    status_code: int | None = None
    error: str = ""
    retry: bool = True  # False: trying again cannot help (a refused target)


def alert_delivery_attempt(*, delivery_id: int, attempt: int, max_attempts: int) -> str | None:
    """Make attempt `attempt` of a delivery; its status afterwards ("pending": try again),
    or None when this attempt was not ours to make (already sent, failed or taken)."""
    claimed = AlertDelivery.objects.filter(
        pk=delivery_id, status=AlertDelivery.Status.PENDING, attempts=attempt - 1
    ).update(attempts=attempt)
    if not claimed:
        return None
    delivery = AlertDelivery.objects.select_related(
        "alert__budget__organization", "alert__budget__endpoint", "destination"
    ).get(pk=delivery_id)
    try:
        result = _send(delivery)
    except Exception as exc:  # noqa: BLE001 - recorded on the delivery, and retried
        logger.exception("alert delivery %s: attempt %d failed", delivery_id, attempt)
        result = Result(sent=False, error=f"{type(exc).__name__}: {exc}")
    if result.sent:
        status = AlertDelivery.Status.SENT
    elif result.retry and attempt < max_attempts:
        status = AlertDelivery.Status.PENDING
    else:
        status = AlertDelivery.Status.FAILED
    AlertDelivery.objects.filter(pk=delivery_id).update(
        status=status,
        last_status_code=result.status_code,
        last_error=result.error[:300],
        delivered_at=timezone.now() if result.sent else None,
    )
    if status == AlertDelivery.Status.FAILED:
        logger.warning(
            "alert delivery %s to %s failed after %d attempts: %s",
            delivery_id, delivery.destination.kind, attempt, result.error,
        )
    return status


def _send(delivery: AlertDelivery) -> Result:
    destination, alert = delivery.destination, delivery.alert
    if destination.kind == AlertDestination.Kind.EMAIL:
        return _send_email(destination.target, alert)
    if destination.kind == AlertDestination.Kind.WEBHOOK:
        body = orjson.dumps(webhook_payload(alert))
        headers = {
            SIGNATURE_HEADER: signature(destination.secret, body, int(time.time())),
            DELIVERY_HEADER: str(delivery.pk),
        }
        return _post(destination.target, body, headers)
    if destination.kind == AlertDestination.Kind.SLACK:
        text = f"*{alert_subject(alert)}*\n{alert_text(alert)}"
        return _post(destination.target, orjson.dumps({"text": text}), {})
    return Result(sent=False, error=f"unknown destination kind {destination.kind!r}", retry=False)


def _send_email(address: str, alert: BudgetAlert) -> Result:
    try:
        sent = send_mail(
            subject=alert_subject(alert),
            message=alert_text(alert),
            from_email=None,
            recipient_list=[address],
        )
    except (smtplib.SMTPException, OSError) as exc:
        return Result(sent=False, error=f"{type(exc).__name__}: {exc}")
    return Result(sent=True) if sent else Result(sent=False, error="the mail backend sent nothing")


def _post(url: str, body: bytes, headers: dict[str, str]) -> Result:
    try:
        status_code = outbound.post(url, body=body, headers=headers)
    except outbound.Unresolvable as exc:
        return Result(sent=False, error=str(exc))
    except outbound.UnsafeTarget as exc:
        return Result(sent=False, error=f"refused: {exc}", retry=False)
    except httpx.HTTPError as exc:
        return Result(sent=False, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    if 200 <= status_code < 300:
        return Result(sent=True, status_code=status_code)
    reason = " (redirects are not followed)" if 300 <= status_code < 400 else ""
    return Result(sent=False, status_code=status_code, error=f"HTTP {status_code}{reason}")


# --- What an alert says -------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _period(alert: BudgetAlert) -> tuple[datetime, datetime]:
    budget = alert.budget
    return period_bounds(budget.period, budget.organization.time_zone, alert.period_start)


def _scope_text(budget: Budget) -> str:
    if budget.scope == Budget.Scope.ENDPOINT and budget.endpoint is not None:
        return f"endpoint {budget.endpoint.name} (/proxy/{budget.endpoint.slug})"
    if budget.scope == Budget.Scope.PERSON:
        return f"person {budget.person}"
    return "the whole organization"


def dashboard_url() -> str:
    """The dashboard's address: PUBLIC_URL's, else the local server's."""
    return (settings.PUBLIC_URL or f"http://{settings.HOST}:{settings.PORT}") + "/"


def alert_subject(alert: BudgetAlert) -> str:
    return f"Codecosts budget '{alert.budget.name}' reached {alert.threshold}%"


def alert_text(alert: BudgetAlert) -> str:
    """The alert for people (email body, Slack text): spend, amount, period, reset, link."""
    budget = alert.budget
    time_zone = budget.organization.time_zone
    start, end = _period(alert)
    zone = ZoneInfo(time_zone)
    percent = (alert.spend_cents * 100 / budget.amount_cents).quantize(Decimal("0.1"))
    if budget.hard_limit:
        limit = f"calls it covers are refused from {dollars_display(budget.limit_cents)}"
    else:
        limit = "none (calls are never refused)"
    return (
        f"Budget '{budget.name}' of {budget.organization.name} reached {alert.threshold}% "
        f"of its amount.\n\n"
        f"Spent: {dollars_display(alert.spend_cents)} of {dollars_display(budget.amount_cents)} "
        f"this {budget.period} ({percent}%)\n"
        f"Period: {start.astimezone(zone):%Y-%m-%d %H:%M} to {end.astimezone(zone):%Y-%m-%d %H:%M} "
        f"{time_zone}\n"
        f"Resets: {end.astimezone(zone):%Y-%m-%d %H:%M} {time_zone}\n"
        f"Covers: {_scope_text(budget)}\n"
        f"Hard limit: {limit}\n\n"
        f"Dashboard: {dashboard_url()}\n"
    )


def webhook_payload(alert: BudgetAlert) -> dict:
    """The JSON a webhook receives (type "budget.threshold"); cents as exact strings."""
    budget = alert.budget
    start, end = _period(alert)
    endpoint = budget.endpoint
    return {
        "type": "budget.threshold",
        "budget": {
            "id": str(budget.id),
            "name": budget.name,
            "scope": budget.scope,
            "endpoint": (
                {"id": str(endpoint.id), "slug": endpoint.slug, "name": endpoint.name}
                if endpoint is not None
                else None
            ),
            "person": budget.person or None,
            "period": budget.period,
            "amount_cents": cents(budget.amount_cents),
            "limit_cents": cents(budget.limit_cents),
            "hard_limit": budget.hard_limit,
        },
        "threshold": alert.threshold,
        "spend_cents": cents(alert.spend_cents),
        "period_start": _iso(start),
        "period_end": _iso(end),
        "organization": {"id": str(budget.organization_id), "name": budget.organization.name},
        "sent_at": _iso(timezone.now()),
    }
