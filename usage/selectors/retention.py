"""Reads of retention (usage.services.retention deletes): where an organization's cutoffs
are, which days keep totals whose logs are gone, and whether a log's bodies went."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from accounts.models import Organization
from usage.models import RetentionMark, UsageLog, UsageLogBody


def retention_cutoffs(organization: Organization, *, now: datetime) -> tuple[datetime, datetime | None]:
    """(bodies before, logs before): logs started before the first lose their bodies,
    before the second (None: never) they go. A day at least, whatever is stored: a 0 set
    by hand in the admin must not delete everything as it arrives."""
    bodies_before = now - timedelta(days=max(1, organization.body_retention_days))
    logs_before = None
    if organization.usage_retention_days is not None:
        logs_before = now - timedelta(days=max(1, organization.usage_retention_days))
        # A log's bodies go with it: usage kept for less than bodies shortens theirs too.
        bodies_before = max(bodies_before, logs_before)
    return bodies_before, logs_before


def retention_frozen_days() -> dict:
    """{organization id: the first day all of whose logs are still there}, for the
    organizations whose old logs retention deleted. The days before it keep the totals
    (UsageDaily, UsageRollup, sessions) written when they were whole: a rebuild from the
    logs must leave them alone, or it would wipe them."""
    return {
        organization_id: logs_before.astimezone(UTC).date() + timedelta(days=1)
        for organization_id, logs_before in RetentionMark.objects.filter(
            logs_before__isnull=False
        ).values_list("organization_id", "logs_before")
    }


def retention_rebuild_scope(logs, rows):
    """The logs a rebuild of totals reads and the rows of totals it replaces (querysets),
    less each organization's frozen days (`retention_frozen_days`)."""
    for organization_id, first in retention_frozen_days().items():
        midnight = datetime(first.year, first.month, first.day, tzinfo=UTC)
        logs = logs.exclude(organization_id=organization_id, started_at__lt=midnight)
        rows = rows.exclude(organization_id=organization_id, day__lt=first)
    return logs, rows


def retention_bodies_deleted_after(log: UsageLog, *, now: datetime | None = None) -> int | None:
    """The organization's body retention in days, when the log's bodies are gone because
    of it (no body row, and the log started before the cutoff); else None."""
    try:
        log.body
        return None
    except UsageLogBody.DoesNotExist:
        pass
    bodies_before, _ = retention_cutoffs(log.organization, now=now or timezone.now())
    return log.organization.body_retention_days if log.started_at < bodies_before else None
