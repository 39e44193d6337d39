"""Retention: each organization keeps request and response bodies for body_retention_days
(30 by default) and usage logs for usage_retention_days (none: for ever, the default);
this deletes what expired.

It runs every hour: from Celery beat (usage.tasks.usage_retention), in a thread of a
server that has no beat (usage.background), and when asked (`manage.py usage_retention`).
For each organization, in this order:

1. Usage logs started before now − usage_retention_days go, with what hangs off them (their
   bodies and labels). The daily totals (UsageDaily), rollups (UsageRollup) and session
   totals are not touched, so dashboards still show those days' totals; the days up to
   RetentionMark.logs_before keep them even through a rebuild from the logs
   (usage.selectors.retention.retention_frozen_days).
2. The bodies (UsageLogBody) of logs started before now − body_retention_days go; the
   logs stay, with their tokens, cost and timing. Only the logs started since the last
   run (less LATE_MARGIN, for records written late) are read, not a year of old ones
   again every hour: RetentionMark.bodies_before.
3. Body pieces (BodyPiece) that no kept body refers to go (`_pieces_collect`).

Every DELETE names at most `batch_size` rows by primary key and is a transaction of its
own, so none is long and the usage writer (on SQLite, one writer at a time) waits for one
batch at most. Two runs at once are harmless: rows are deleted by key, conditions checked
again in the DELETE. Works the same on SQLite and PostgreSQL.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from codecosts.keyset import keyset_after
from usage.models import BodyPiece, RetentionMark, UsageLog, UsageLogBody
from usage.selectors.retention import retention_cutoffs

logger = logging.getLogger("codecosts.usage")

BATCH_SIZE = 1000
# A record can reach the database after later ones (spooled while the broker was down):
# each run reads the logs started this long before where the last one stopped.
LATE_MARGIN = timedelta(days=1)
# Pieces are kept a day longer than the bodies using them (see _pieces_collect).
PIECE_MARGIN = timedelta(days=1)
# An organization whose run deletes nothing and takes less than this is logged at DEBUG
# only: an hourly line per idle organization would drown the ones that matter.
QUIET_SECONDS = 1.0


@dataclass
class RetentionResult:
    """What one organization's run deleted (or, dry, would delete) and how long it took."""

    organization_id: str
    organization: str
    bodies: int = 0
    logs: int = 0
    pieces: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    error: str = ""

    @property
    def deleted(self) -> int:
        return self.bodies + self.logs + self.pieces

    def line(self) -> str:
        if self.error:
            return f"retention {self.organization!r} ({self.organization_id}): failed: {self.error}"
        verb = "to delete" if self.dry_run else "deleted"
        return (
            f"retention {self.organization!r} ({self.organization_id}): {self.bodies} bodies, "
            f"{self.logs} logs, {self.pieces} pieces {verb} in {self.seconds:.2f} s"
        )


def retention_run(
    *,
    organization: Organization,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
    full: bool = False,
) -> RetentionResult:
    """Delete what expired in one organization (dry: count it). `full` reads every old log
    for bodies left behind, not only those started since the last run."""
    now = now or timezone.now()
    began = time.monotonic()
    result = RetentionResult(str(organization.pk), organization.name, dry_run=dry_run)
    bodies_before, logs_before = retention_cutoffs(organization, now=now)
    mark = RetentionMark.objects.filter(organization=organization).first()
    if logs_before is not None:
        result.logs, result.bodies = _logs_delete(organization, logs_before, batch_size, dry_run)
    since = None
    if not full and mark is not None and mark.bodies_before is not None:
        since = mark.bodies_before - LATE_MARGIN
    if logs_before is not None:
        # The older logs went in step 1, bodies and all (dry: were counted with them).
        since = logs_before if since is None else max(since, logs_before)
    result.bodies += _bodies_delete(organization, bodies_before, since, batch_size, dry_run)
    if not dry_run:
        _mark_advance(organization, mark, bodies_before=bodies_before, logs_before=logs_before)
    result.pieces = _pieces_collect(organization, bodies_before, batch_size, dry_run)
    result.seconds = time.monotonic() - began
    return result


def retention_run_all(
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    dry_run: bool = False,
    full: bool = False,
    report=None,
) -> list[RetentionResult]:
    """Run retention for every organization, oldest first; `report(result)` is called
    after each. An organization that fails is logged and the others still run."""
    now = now or timezone.now()
    began = time.monotonic()
    results = []
    organizations = Organization.objects.order_by("created_at", "id").only(
        "id", "name", "body_retention_days", "usage_retention_days"
    )
    for organization in organizations.iterator(chunk_size=500):
        try:
            result = retention_run(
                organization=organization, now=now, batch_size=batch_size, dry_run=dry_run, full=full
            )
        except Exception as error:  # noqa: BLE001 - one organization's failure stops no other's
            logger.exception("retention failed for organization %s", organization.pk)
            result = RetentionResult(str(organization.pk), organization.name, dry_run=dry_run, error=repr(error))
        quiet = not result.error and not result.deleted and result.seconds < QUIET_SECONDS
        logger.log(logging.DEBUG if quiet else logging.INFO, "%s", result.line())
        if report is not None:
            report(result)
        results.append(result)
    logger.info(
        "retention: %d organizations, %d bodies, %d logs, %d pieces %s in %.2f s%s",
        len(results),
        sum(r.bodies for r in results),
        sum(r.logs for r in results),
        sum(r.pieces for r in results),
        "to delete" if dry_run else "deleted",
        time.monotonic() - began,
        f", {sum(1 for r in results if r.error)} failed" if any(r.error for r in results) else "",
    )
    return results


def _logs_delete(organization, before: datetime, batch_size: int, dry_run: bool) -> tuple[int, int]:
    """Delete the logs started before `before` (their bodies and labels cascade); return
    (logs, bodies) deleted."""
    logs = UsageLog.objects.filter(organization=organization, started_at__lt=before)
    if dry_run:
        return logs.count(), UsageLogBody.objects.filter(log__in=logs.values("id")).count()
    deleted_logs = deleted_bodies = 0
    position = None
    while True:
        page = logs if position is None else logs.filter(keyset_after("started_at", *position, descending=False))
        rows = list(page.order_by("started_at", "id").values_list("started_at", "id")[:batch_size])
        if not rows:
            break
        with transaction.atomic():
            _, per_model = UsageLog.objects.filter(pk__in=[pk for _, pk in rows]).delete()
        deleted_logs += per_model.get(UsageLog._meta.label, 0)
        deleted_bodies += per_model.get(UsageLogBody._meta.label, 0)
        position = rows[-1]
        if len(rows) < batch_size:
            break
    return deleted_logs, deleted_bodies


def _bodies_delete(organization, before: datetime, since: datetime | None, batch_size: int, dry_run: bool) -> int:
    """Delete the bodies of the logs started in [since, before) (since None: all before)."""
    logs = UsageLog.objects.filter(organization=organization, started_at__lt=before, body__isnull=False)
    if since is not None:
        if since >= before:
            return 0
        logs = logs.filter(started_at__gte=since)
    if dry_run:
        return logs.count()
    deleted = 0
    position = None
    while True:
        page = logs if position is None else logs.filter(keyset_after("started_at", *position, descending=False))
        rows = list(page.order_by("started_at", "id").values_list("started_at", "id")[:batch_size])
        if not rows:
            break
        deleted += UsageLogBody.objects.filter(log_id__in=[pk for _, pk in rows]).delete()[0]
        position = rows[-1]
        if len(rows) < batch_size:
            break
    return deleted


def _mark_advance(organization, mark, *, bodies_before: datetime, logs_before: datetime | None) -> None:
    """Remember how far this run went; never back (a longer retention set since cannot
    bring back what was deleted, and the next run starts from there)."""
    if mark is None:
        mark = RetentionMark(organization=organization)
    if mark.bodies_before is None or bodies_before > mark.bodies_before:
        mark.bodies_before = bodies_before
    if logs_before is not None and (mark.logs_before is None or logs_before > mark.logs_before):
        mark.logs_before = logs_before
    mark.save()


def _pieces_collect(organization, bodies_before: datetime, batch_size: int, dry_run: bool) -> int:
    """Delete the pieces whose last use is more than a day before the bodies' cutoff.

    Why that is exact: a piece's last_used is the UTC date of the latest started_at of the
    calls whose request uses it (the body-store writer raises it as calls come). So every
    log referring to a piece started on or before the end of its last_used day. A piece
    whose last_used is before D, the cutoff's UTC date less a day, is referred to only by
    logs started before D, long before the cutoff: bodies that step 2 has just deleted.
    The day's margin covers the clocks of the machines that stamp started_at and a call in
    flight while the day turns. The DELETE checks last_used again: a piece that a new call
    used since it was selected (the writer raised its last_used meanwhile) stays; on
    PostgreSQL the DELETE waits for the writer's row lock and reads the row again: the
    writer locks every piece it finds present (FOR KEY SHARE, usage.bodystore.store)
    until its batch commits, so a piece it counted on is never deleted under it. (SQLite's
    writers take turns with this.)
    """
    unused_before: date = (bodies_before - PIECE_MARGIN).astimezone(UTC).date()
    pieces = BodyPiece.objects.filter(organization=organization, last_used__lt=unused_before)
    if dry_run:
        return pieces.count()
    deleted = 0
    position = None
    while True:
        page = pieces
        if position is not None:
            used, pk = position
            page = pieces.filter(Q(last_used__gt=used) | Q(last_used=used, pk__gt=pk))
        rows = list(page.order_by("last_used", "id").values_list("last_used", "id")[:batch_size])
        if not rows:
            break
        ids = [pk for _, pk in rows]
        deleted += BodyPiece.objects.filter(pk__in=ids, last_used__lt=unused_before).delete()[0]
        position = rows[-1]
        if len(rows) < batch_size:
            break
    return deleted
