"""Reprice stored usage logs after the price table or the pricing rules changed.

    python manage.py recompute_costs [--since YYYY-MM-DD] [--dry-run]

A log whose response body was kept whole is metered again from that body, so it is
priced part by part under the current rules (advisor calls, compaction, fallback
attempts, refusals: usage.pricing.parts) even if it was written before them; any other
log is priced from its stored token columns. The session totals, daily totals and
attribution rollups are then rebuilt from the logs, except those of days whose logs
retention deleted (usage.services.retention): they keep what they had.
"""

import sys
from datetime import UTC, date, datetime
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from tqdm import tqdm

from providers.requests import RequestInfo
from usage.cost_parts import call_cost_for, cost_parts_json, is_multi_part
from usage.models import COST_FIELD, Session, UsageLog, UsageLogBody
from usage.records import TokenUsage
from usage.selectors.bodies import usage_log_metered
from usage.selectors.logs import usage_log_token_usage
from usage.selectors.retention import retention_frozen_days
from usage.services.daily import usage_daily_rebuild
from usage.services.rollups import usage_rollup_rebuild

# What the cost_cents column keeps: exact to 1e-10 cents.
_COST_QUANTUM = Decimal(1).scaleb(-COST_FIELD["decimal_places"])
_SESSION_CHUNK = 500
# Bodies are read this many logs at a time (they can be large).
_BODY_CHUNK = 200
_BODY_FIELDS = (
    "log_id",
    "request_body",
    "response_body",
    "request_truncated",
    "response_truncated",
    "response_content_type",
    "dropped",
)
_WRITTEN = ["cost_cents", "unpriced", "cost_parts", "multi_part"]
_FIELDS = (
    "id",
    "path",
    "streamed",
    "session_id",
    "provider",
    "model",
    "request_model",
    "usage_missing",
    "status_code",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "web_fetch_requests",
    "inference_geo",
    "service_tier",
    "speed",
    "started_at",
    "cost_cents",
    "unpriced",
    "cost_parts",
    "multi_part",
)


def _since(value: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since wants a date as YYYY-MM-DD, got {value!r}") from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _used_anything(usage: TokenUsage) -> bool:
    return bool(
        usage.input_tokens
        or usage.output_tokens
        or usage.cache_write_tokens
        or usage.cache_read_tokens
        or usage.web_search_requests
        or usage.web_fetch_requests
    )


def log_reprice(log: UsageLog, body: UsageLogBody | None = None) -> tuple:
    """Return the (cost_cents, unpriced, cost_parts, multi_part) a log should have under
    the current table and rules: from its stored response body when that is whole, else
    from its token columns."""
    if log.usage_missing:
        # Nothing to price, and not the table's fault.
        return None, False, None, False
    metered = usage_log_metered(log, body)
    if metered is not None:
        usage, request = metered
    else:
        usage, request = usage_log_token_usage(log), RequestInfo(model=log.request_model)
    if log.status_code and log.status_code >= 400 and not _used_anything(usage):
        # The provider refused the call (often for a model it does not know): nothing is
        # billed, as usage.services.usage_log_record records it.
        return Decimal(0), False, None, False
    # A body read again names the model that served it (a stream's fallback block
    # relabels it; logs written before fallbacks were read keep the asked model).
    model = (usage.model if metered is not None else "") or log.model or log.request_model
    priced = call_cost_for(usage=usage, model=model, at=log.started_at, provider=log.provider, request=request)
    parts = cost_parts_json(priced)
    multi_part = is_multi_part(parts, model)
    if priced.total is None:
        return None, True, parts, multi_part
    return priced.total.quantize(_COST_QUANTUM), False, parts, multi_part


def _bodies(logs: list[UsageLog]) -> dict:
    """The stored bodies of these logs, by log id."""
    return {
        body.log_id: body
        for body in UsageLogBody.objects.filter(log_id__in=[log.pk for log in logs]).only(*_BODY_FIELDS)
    }


def sessions_cost_recompute(session_ids) -> int:
    """Set each session's cost_cents to the sum of its logs' costs; return sessions updated.

    A session that started before its organization's frozen days (retention deleted logs
    of those days, usage.services.retention) keeps its total: its logs may not all be there.
    """
    session_ids = list(session_ids)
    sessions = Session.objects.all()
    for organization_id, first in retention_frozen_days().items():
        midnight = datetime(first.year, first.month, first.day, tzinfo=UTC)
        sessions = sessions.exclude(organization_id=organization_id, started_at__lt=midnight)
    log_total = (
        UsageLog.objects.filter(session_id=OuterRef("pk"))
        .order_by()
        .values("session_id")
        .annotate(total=Sum("cost_cents"))
        .values("total")
    )
    output = DecimalField(**COST_FIELD)
    updated = 0
    for start in range(0, len(session_ids), _SESSION_CHUNK):
        chunk = session_ids[start : start + _SESSION_CHUNK]
        # One statement per chunk, so a call recorded meanwhile is not lost to a
        # read-modify-write in Python.
        updated += sessions.filter(pk__in=chunk).update(
            cost_cents=Coalesce(
                Subquery(log_total, output_field=output),
                Value(Decimal(0)),
                output_field=output,
            )
        )
    return updated


class Command(BaseCommand):
    help = (
        "Reprice usage logs with the current price table and rules: from their stored "
        "response bodies when whole, else from their token counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", type=_since, help="only logs started on or after this UTC date"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, write nothing"
        )
        parser.add_argument(
            "--batch-size", type=int, default=2000, help="logs per batch (default 2000)"
        )

    def handle(self, *args, since=None, dry_run=False, batch_size=2000, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be positive")
        logs = UsageLog.objects.all()
        if since is not None:
            logs = logs.filter(started_at__gte=since)
        logs = logs.only(*_FIELDS).order_by("pk")

        seen = changed = unpriced = 0
        sessions: set = set()
        last_pk = None
        # tqdm redraws with "\r"; Django's OutputWrapper would end each redraw with "\n".
        progress_out = getattr(self.stderr, "_out", sys.stderr)
        with tqdm(total=logs.count(), unit="log", file=progress_out) as progress:
            while True:
                # Keyset pagination on the primary key: each batch is one indexed range read
                # however far in we are, unlike OFFSET.
                batch = logs if last_pk is None else logs.filter(pk__gt=last_pk)
                rows = list(batch[:batch_size])
                if not rows:
                    break
                last_pk = rows[-1].pk
                updates = []
                for start in range(0, len(rows), _BODY_CHUNK):
                    chunk = rows[start : start + _BODY_CHUNK]
                    bodies = _bodies(chunk)
                    for log in chunk:
                        repriced = log_reprice(log, bodies.get(log.pk))
                        unpriced += repriced[1]
                        if repriced != (log.cost_cents, log.unpriced, log.cost_parts, log.multi_part):
                            cost_changed = repriced[0] != log.cost_cents
                            log.cost_cents, log.unpriced, log.cost_parts, log.multi_part = repriced
                            updates.append(log)
                            if cost_changed and log.session_id is not None:
                                sessions.add(log.session_id)
                if updates and not dry_run:
                    with transaction.atomic():
                        UsageLog.objects.bulk_update(updates, _WRITTEN)
                seen += len(rows)
                changed += len(updates)
                progress.update(len(rows))

        if dry_run:
            self.stdout.write(
                f"{seen} logs seen, {changed} would change, {unpriced} unpriced, "
                f"{len(sessions)} session totals to update. Dry run: nothing written."
            )
            return
        sessions_updated = sessions_cost_recompute(sessions)
        since_day = since.date() if since is not None else None
        days = usage_daily_rebuild(since=since_day)
        rollups = usage_rollup_rebuild(since=since_day)
        self.stdout.write(
            f"{seen} logs seen, {changed} changed, {unpriced} unpriced, "
            f"{sessions_updated} session totals updated, {days} daily totals and "
            f"{rollups} rollups rebuilt."
        )
