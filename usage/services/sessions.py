"""Work sessions: started and ended by people, joined by calls (by header, a running manual
session, or Claude Code's session id), and their running totals."""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from accounts.models import Organization
from providers.requests import RequestInfo
from proxy.models import ProxyEndpoint
from usage.models import Session, UsageLog
from usage.records import UsageRecord
from usage.selectors.sessions import manual_sessions_overlapping, session_pick

SESSION_NAME_MAX_LENGTH = Session._meta.get_field("name").max_length


def session_start(
    *, organization: Organization, name: str, endpoint: ProxyEndpoint | None = None
) -> Session:
    """Start a manual session now, ending the one already running in the same scope.

    The scope is the endpoint, or the whole organization with `endpoint=None`; sessions
    of other scopes keep running (a call joins its endpoint's session before an
    organization-wide one). The old session ends at the instant the new one starts, so
    every call falls in exactly one of them.
    """
    name = _clean_session_name(name)
    if endpoint is not None and endpoint.organization_id != organization.pk:
        raise ValidationError(
            {"endpoint": ValidationError("endpoint is not in this organization", code="invalid")}
        )
    with transaction.atomic():
        # One start at a time per organization, so two racing starts cannot leave two
        # sessions running in one scope.
        Organization.objects.select_for_update().get(pk=organization.pk)
        now = timezone.now()
        scope = {"endpoint__isnull": True} if endpoint is None else {"endpoint": endpoint}
        Session.objects.filter(
            organization=organization,
            source=Session.Source.MANUAL,
            ended_at__isnull=True,
            **scope,
        ).update(ended_at=now)
        return Session.objects.create(
            organization=organization,
            endpoint=endpoint,
            name=name,
            source=Session.Source.MANUAL,
            started_at=now,
        )


def session_end(*, session: Session) -> Session:
    """End a manual session now; ending an ended session changes nothing.

    Header and Claude Code sessions cannot be ended: they are whatever the client's
    calls name, and the next call naming one would join it again.
    """
    if session.source != Session.Source.MANUAL:
        grouped_by = (
            "x-codecosts-session header"
            if session.source == Session.Source.HEADER
            else "Claude Code session id"
        )
        raise ValidationError(
            f"only manual sessions can be ended; this one follows the client's {grouped_by}",
            code="not_manual",
        )
    # Conditional, so a concurrent end keeps the first end time.
    Session.objects.filter(pk=session.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    session.refresh_from_db()
    return session


def _clean_session_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": ValidationError("name must not be blank", code="blank")})
    name = name.strip()
    if len(name) > SESSION_NAME_MAX_LENGTH:
        raise ValidationError(
            {
                "name": ValidationError(
                    f"name must be at most {SESSION_NAME_MAX_LENGTH} characters",
                    code="max_length",
                )
            }
        )
    return name


def session_totals_add(logs: list[UsageLog]) -> None:
    """Add logs to their sessions' totals: one update per session."""
    totals: dict = {}
    for log in logs:
        if log.session is None:
            continue
        total = totals.setdefault(
            log.session.pk,
            {"calls": 0, "input": 0, "output": 0, "write": 0, "read": 0, "cost": 0, "ms": 0, "last": log.started_at},
        )
        total["calls"] += 1
        total["input"] += log.input_tokens
        total["output"] += log.output_tokens
        total["write"] += log.cache_write_tokens
        total["read"] += log.cache_read_tokens
        total["cost"] += log.cost_cents or 0
        total["ms"] += log.duration_ms
        total["last"] = max(total["last"], log.started_at)
    for pk, total in totals.items():
        Session.objects.filter(pk=pk).update(
            calls=F("calls") + total["calls"],
            input_tokens=F("input_tokens") + total["input"],
            output_tokens=F("output_tokens") + total["output"],
            cache_write_tokens=F("cache_write_tokens") + total["write"],
            cache_read_tokens=F("cache_read_tokens") + total["read"],
            cost_cents=F("cost_cents") + total["cost"],
            duration_ms=F("duration_ms") + total["ms"],
            # Logs may be written out of order (retries, a drained spool).
            last_call_at=Greatest(Coalesce("last_call_at", total["last"]), total["last"]),
        )


class SessionResolver:
    """The session each call of a batch joins: its header, else a running manual one,
    else Claude Code's. Looked up once per name, id or organization, not once per call.

    Header and Claude Code sessions are created on a call's first use of the name or id,
    per organization (the unique constraint on (organization, source, external_id) makes
    concurrent first calls meet in one row).
    """

    def __init__(self, records: list[UsageRecord]):
        self._named: dict[tuple, Session] = {}
        self._manual: dict[str, list[Session]] = {}
        times = [datetime.fromtimestamp(r.started_at, tz=UTC) for r in records]
        self._earliest, self._latest = min(times), max(times)

    def session_for(
        self, record: UsageRecord, request: RequestInfo, *, endpoint_id, started_at
    ) -> Session | None:
        if record.session_name:
            return self._named_session(
                record, Session.Source.HEADER, record.session_name, {"name": record.session_name, "started_at": started_at}
            )
        manual = self._manual_session(record.organization_id, endpoint_id, started_at)
        if manual is not None:
            return manual
        if request.claude_code_session_id:
            return self._named_session(
                record,
                Session.Source.CLAUDE_CODE,
                request.claude_code_session_id,
                {
                    "name": request.first_prompt
                    or f"Claude Code {timezone.localtime(started_at):%Y-%m-%d %H:%M}",
                    "started_at": started_at,
                    "endpoint_id": endpoint_id,
                },
            )
        return None

    def _named_session(self, record, source, external_id, defaults) -> Session:
        key = (record.organization_id, source, external_id)
        if key not in self._named:
            self._named[key], _ = Session.objects.get_or_create(
                organization_id=record.organization_id, source=source, external_id=external_id, defaults=defaults
            )
        return self._named[key]

    def _manual_session(self, organization_id, endpoint_id, at) -> Session | None:
        candidates = self._manual.get(organization_id)
        if candidates is None:
            candidates = self._manual[organization_id] = manual_sessions_overlapping(
                organization_id=organization_id, since=self._earliest, until=self._latest
            )
        return session_pick(candidates, endpoint_id=endpoint_id, at=at)
