"""Reads of work sessions: the one a call joins, the one running in a scope."""

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Organization
from proxy.models import ProxyEndpoint
from usage.models import Session


def session_active(*, organization: Organization, endpoint: ProxyEndpoint | None = None):
    """Return the active manual session of exactly this scope, or None.

    The scope is the endpoint, or with `endpoint=None` the whole organization: an
    organization-wide session is not returned for an endpoint, nor the reverse. See
    `session_current` for the session a call would join.
    """
    scope = Q(endpoint__isnull=True) if endpoint is None else Q(endpoint=endpoint)
    return (
        Session.objects.filter(
            scope, organization=organization, source=Session.Source.MANUAL, ended_at__isnull=True
        )
        .order_by("-started_at", "-id")
        .first()
    )


def manual_sessions_overlapping(*, organization_id, since: datetime, until: datetime) -> list[Session]:
    """The organization's manual sessions running at some moment between since and until."""
    return list(
        Session.objects.filter(
            organization_id=organization_id, source=Session.Source.MANUAL, started_at__lte=until
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since))
        .order_by("-started_at", "-id")
    )


def session_pick(candidates: list[Session], *, endpoint_id, at: datetime) -> Session | None:
    """Of manual sessions (newest first), the one a call made at `at` on `endpoint_id` joins.

    That is one running at `at` (started at or before it, not ended by then): the
    endpoint's own first, else the organization-wide one; the latest started if two overlap.
    """
    organization_wide = None
    for session in candidates:
        if session.started_at > at or (session.ended_at is not None and session.ended_at <= at):
            continue
        if session.endpoint_id is None:
            organization_wide = organization_wide or session
        elif str(session.endpoint_id) == str(endpoint_id):
            return session
    return organization_wide


def session_for_call(*, organization_id, endpoint_id, at: datetime) -> Session | None:
    """Return the manual session a call made at `at` on `endpoint_id` joins, or None."""
    candidates = manual_sessions_overlapping(organization_id=organization_id, since=at, until=at)
    return session_pick(candidates, endpoint_id=endpoint_id, at=at)


def session_current(
    *, organization: Organization, endpoint: ProxyEndpoint | None = None
) -> Session | None:
    """Return the manual session a call on `endpoint` would join now, or None.

    With `endpoint=None`, only an organization-wide session counts.
    """
    return session_for_call(
        organization_id=organization.pk,
        endpoint_id=endpoint.pk if endpoint is not None else None,
        at=timezone.now(),
    )


def session_list(*, queryset: QuerySet[Session]) -> QuerySet[Session]:
    """Sessions with what their representation reads (the endpoint's slug)."""
    return queryset.select_related("endpoint")


def proxy_endpoint_for_reference(
    *, organization: Organization, reference: str
) -> ProxyEndpoint | None:
    """Return the organization's endpoint with this id or slug, or None."""
    endpoints = ProxyEndpoint.objects.filter(organization=organization)
    try:
        endpoint_id = uuid.UUID(str(reference))
    except ValueError:
        return endpoints.filter(slug=reference).first()
    return endpoints.filter(id=endpoint_id).first()
