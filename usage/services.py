"""Writes of the usage app: usage logs and the sessions they join."""

import logging
import zlib
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from accounts.models import ApiKey, Organization
from providers.requests import request_info
from proxy.models import ProxyEndpoint
from usage.models import Session, UsageDaily, UsageLog, UsageLogBody
from usage.pricing import cache_savings_compute, cost_compute
from usage.records import UsageRecord
from usage.selectors import manual_sessions_overlapping, session_pick, usage_log_token_usage

logger = logging.getLogger("codecosts.usage")


def usage_log_record(*, record: UsageRecord) -> UsageLog | None:
    """Write the one UsageLog of an exchange; a second call with the same id changes nothing.

    The record's bodies arrive zlib-compressed (see usage.records.record_to_payload).
    """
    usage_logs_record(records=[record])
    return UsageLog.objects.filter(id=record.id).first()


def usage_logs_record(*, records: list[UsageRecord]) -> int:
    """Write a batch of usage logs, with their bodies, sessions and daily totals; return
    how many were new.

    Idempotent per record id: records already written (a retried task, a spool delivered
    twice) change nothing. A batch costs a handful of queries whatever its size: the
    existence checks, the session lookups and the totals are done once per batch, per
    session and per day, not once per call.
    """
    records = list({record.id: record for record in records}.values())
    written = set(
        str(pk) for pk in UsageLog.objects.filter(id__in=[r.id for r in records]).values_list("id", flat=True)
    )
    records = [r for r in records if r.id not in written]
    if not records:
        return 0
    organizations = set(
        str(pk)
        for pk in Organization.objects.filter(id__in={r.organization_id for r in records}).values_list(
            "id", flat=True
        )
    )
    for record in records:
        if record.organization_id not in organizations:
            logger.warning("usage record %s dropped: organization %s is gone", record.id, record.organization_id)
    records = [r for r in records if r.organization_id in organizations]
    endpoints = set(
        str(pk)
        for pk in ProxyEndpoint.all_objects.filter(id__in={r.endpoint_id for r in records}).values_list(
            "id", flat=True
        )
    )
    # A key deleted since the call (revoked ones stay) leaves the log without it.
    key_ids = {r.api_key_id for r in records if r.api_key_id}
    keys = set(
        str(pk) for pk in ApiKey.objects.filter(id__in=key_ids).values_list("id", flat=True)
    ) if key_ids else set()
    try:
        with transaction.atomic():
            sessions = _SessionResolver(records)
            logs, bodies = [], []
            for record in records:
                # A deleted endpoint's calls keep its slug.
                endpoint_id = record.endpoint_id if record.endpoint_id in endpoints else None
                log = _log_build(record, endpoint_id=endpoint_id)
                log.api_key_id = record.api_key_id if record.api_key_id in keys else None
                log.session = sessions.session_for(record, endpoint_id=endpoint_id, started_at=log.started_at)
                logs.append(log)
                bodies.append(_body_build(record, log))
            UsageLog.objects.bulk_create(logs)
            UsageLogBody.objects.bulk_create(bodies)
            _sessions_add(logs)
            _daily_add([(log, record.usage) for log, record in zip(logs, records)])
    except IntegrityError:
        if len(records) == 1:
            # Written meanwhile by a concurrent delivery of the same record.
            if UsageLog.objects.filter(id=records[0].id).exists():
                return 0
            raise
        # Some record was written meanwhile by another delivery: one by one, each idempotent.
        return sum(usage_logs_record(records=[record]) for record in records)
    return len(logs)


def _log_build(record: UsageRecord, *, endpoint_id) -> UsageLog:
    _read_request(record)
    usage = record.usage
    started_at = datetime.fromtimestamp(record.started_at, tz=UTC)
    model = usage.model or record.request_model
    if usage.seen:
        cost = cost_compute(model=model, usage=usage, at=started_at)
    elif record.status_code and record.status_code >= 400:
        cost = Decimal(0)  # the provider refused the call: nothing is billed
    else:
        cost = None  # no usage seen: unknown, never a made-up zero
    return UsageLog(
        id=record.id,
        organization_id=record.organization_id,
        endpoint_id=endpoint_id,
        endpoint_slug=record.endpoint_slug,
        provider=record.provider,
        path=record.path[:255],
        request_model=record.request_model[:128],
        model=model[:128],
        streamed=record.streamed,
        status_code=record.status_code,
        outcome=record.outcome,
        incomplete=record.incomplete,
        usage_missing=not usage.seen and cost is None,
        error_type=usage.error_type[:64],
        error_message=usage.error_message,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_input_tokens=usage.cache_write_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_input_tokens=usage.cache_read_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        web_search_requests=usage.web_search_requests,
        web_fetch_requests=usage.web_fetch_requests,
        inference_geo=usage.inference_geo[:32],
        service_tier=usage.service_tier[:32],
        speed=usage.speed[:32],
        stop_reason=usage.stop_reason[:64],
        cost_cents=cost,
        unpriced=usage.seen and cost is None,
        started_at=started_at,
        duration_ms=record.duration_ms,
        ttfb_ms=record.ttfb_ms,
        upstream_request_id=record.upstream_request_id,
        user_agent=record.user_agent,
        key_hint=record.key_hint,
        claude_code_session_id=record.claude_code_session_id,
        session_name=record.session_name,
    )


def _body_build(record: UsageRecord, log: UsageLog) -> UsageLogBody:
    return UsageLogBody(
        log=log,
        request_body=record.request_body,
        response_body=record.response_body,
        request_size=record.request_size,
        response_size=record.response_size,
        request_truncated=record.request_truncated,
        response_truncated=record.response_truncated,
        response_content_type=record.response_content_type,
    )


_DAILY_SUMS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_write_5m_tokens": "cache_write_5m_tokens",
    "cache_write_1h_tokens": "cache_write_1h_tokens",
    "cache_read_tokens": "cache_read_input_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "web_search_requests": "web_search_requests",
    "duration_ms": "duration_ms",
}


def _daily_values(log: UsageLog, savings) -> dict:
    values = {field: getattr(log, source) for field, source in _DAILY_SUMS.items()}
    values["calls"] = 1
    values["error_calls"] = int(log.outcome != UsageLog.Outcome.OK)
    values["unpriced_calls"] = int(log.unpriced)
    values["cost_cents"] = log.cost_cents or 0
    values["cache_savings_cents"] = savings or 0
    return values


def _daily_add(logs_and_usage) -> None:
    """Add logs to their days' totals: one update (or the day's first row) per key."""
    totals: dict[tuple, dict] = {}
    endpoints: dict[tuple, object] = {}
    for log, usage in logs_and_usage:
        savings = (
            cache_savings_compute(model=log.model, usage=usage, at=log.started_at)
            if usage.cache_read_tokens
            else None
        )
        key = (log.organization_id, log.started_at.date(), log.endpoint_slug, log.provider, log.model)
        values = _daily_values(log, savings)
        if key in totals:
            for field, value in values.items():
                totals[key][field] += value
        else:
            totals[key] = values
            endpoints[key] = log.endpoint_id
    for key, values in totals.items():
        lookup = dict(zip(("organization_id", "day", "endpoint_slug", "provider", "model"), key))
        increments = {field: F(field) + value for field, value in values.items()}
        if UsageDaily.objects.filter(**lookup).update(**increments):
            continue
        try:
            with transaction.atomic():
                UsageDaily.objects.create(**lookup, endpoint_id=endpoints[key], **values)
        except IntegrityError:
            # Another writer created the day's row first.
            UsageDaily.objects.filter(**lookup).update(**increments)


def usage_daily_rebuild(*, since=None) -> int:
    """Recompute the daily totals from the logs (all days, or from `since` on)."""
    logs = UsageLog.objects.order_by()
    days = UsageDaily.objects.all()
    if since is not None:
        logs = logs.filter(started_at__date__gte=since)
        days = days.filter(day__gte=since)
    rows: dict[tuple, UsageDaily] = {}
    for log in logs.iterator(chunk_size=2000):
        usage = usage_log_token_usage(log)
        savings = (
            cache_savings_compute(model=log.model, usage=usage, at=log.started_at)
            if log.cache_read_input_tokens
            else None
        )
        key = (log.organization_id, log.started_at.date(), log.endpoint_slug, log.provider, log.model)
        row = rows.get(key)
        if row is None:
            row = rows[key] = UsageDaily(
                organization_id=key[0], day=key[1], endpoint_slug=key[2], provider=key[3],
                model=key[4], endpoint_id=log.endpoint_id,
            )
        for field, value in _daily_values(log, savings).items():
            setattr(row, field, getattr(row, field) + value)
    with transaction.atomic():
        days.delete()
        UsageDaily.objects.bulk_create(rows.values(), batch_size=1000)
    return len(rows)


def _read_request(record: UsageRecord) -> None:
    """Fill in what the request body says (model, Claude Code's session): parsed here, in
    the worker, so the proxy never parses a request body on the event loop."""
    if record.request_model and record.claude_code_session_id:
        return
    try:
        info = request_info(zlib.decompress(record.request_body)) if record.request_body else None
    except zlib.error:
        info = None
    if info is not None:
        record.request_model = record.request_model or info.model[:128]
        # Cut as the header's value is (proxy.views): the columns hold 128 characters.
        record.claude_code_session_id = record.claude_code_session_id or info.claude_code_session_id[:128]


def _sessions_add(logs: list[UsageLog]) -> None:
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
        total["write"] += log.cache_creation_input_tokens
        total["read"] += log.cache_read_input_tokens
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


class _SessionResolver:
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

    def session_for(self, record: UsageRecord, *, endpoint_id, started_at) -> Session | None:
        if record.session_name:
            return self._named_session(
                record, Session.Source.HEADER, record.session_name, {"name": record.session_name, "started_at": started_at}
            )
        manual = self._manual_session(record.organization_id, endpoint_id, started_at)
        if manual is not None:
            return manual
        if record.claude_code_session_id:
            return self._named_session(
                record,
                Session.Source.CLAUDE_CODE,
                record.claude_code_session_id,
                {
                    "name": _first_prompt(record.request_body)
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


def _first_prompt(compressed_body: bytes, limit: int = 80) -> str:
    """The first user text of a request, shortened, to name a Claude Code session after."""
    try:
        body = orjson.loads(zlib.decompress(compressed_body))
        for message in body.get("messages") or ():
            if message.get("role") != "user":
                continue
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or ()
            for block in blocks:
                text = (block.get("text") or "").strip() if block.get("type") == "text" else ""
                # Claude Code prepends system reminders as their own text blocks.
                if text and not text.startswith("<"):
                    return text if len(text) <= limit else text[: limit - 1] + "…"
    except (zlib.error, orjson.JSONDecodeError, AttributeError, TypeError):
        pass
    return ""


# --- Work sessions --------------------------------------------------------------------

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
