"""Writes of the usage app: usage logs and the sessions they join."""

import logging
import zlib
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Organization
from proxy.models import ProxyEndpoint
from usage.models import Session, UsageLog, UsageLogBody
from usage.pricing import cost_compute
from usage.records import UsageRecord

logger = logging.getLogger("codecosts.usage")


def usage_log_record(*, record: UsageRecord) -> UsageLog | None:
    """Write the one UsageLog of an exchange; a second call with the same id changes nothing.

    The record's bodies arrive zlib-compressed (see usage.records.record_to_payload).
    """
    existing = UsageLog.objects.filter(id=record.id).first()
    if existing is not None:
        return existing
    if not Organization.objects.filter(id=record.organization_id).exists():
        logger.warning("usage record %s dropped: organization %s is gone", record.id, record.organization_id)
        return None
    endpoint_id = record.endpoint_id
    if not ProxyEndpoint.objects.filter(id=endpoint_id).exists():
        endpoint_id = None  # deleted since the call; the log keeps its slug

    usage = record.usage
    started_at = datetime.fromtimestamp(record.started_at, tz=UTC)
    model = usage.model or record.request_model
    if usage.seen:
        cost = cost_compute(model=model, usage=usage, at=started_at)
    elif record.status_code and record.status_code >= 400:
        cost = Decimal(0)  # the provider refused the call: nothing is billed
    else:
        cost = None  # no usage seen: unknown, never a made-up zero
    try:
        with transaction.atomic():
            session = _session_for(record, endpoint_id=endpoint_id, started_at=started_at)
            log = UsageLog.objects.create(
                id=record.id,
                organization_id=record.organization_id,
                endpoint_id=endpoint_id,
                endpoint_slug=record.endpoint_slug,
                session=session,
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
            UsageLogBody.objects.create(
                log=log,
                request_body=record.request_body,
                response_body=record.response_body,
                request_size=record.request_size,
                response_size=record.response_size,
                request_truncated=record.request_truncated,
                response_truncated=record.response_truncated,
                response_content_type=record.response_content_type,
            )
            if session is not None:
                _session_add(session, log)
    except IntegrityError:
        # Written meanwhile by a retried or duplicated delivery.
        existing = UsageLog.objects.filter(id=record.id).first()
        if existing is None:
            raise
        return existing
    return log


def _session_add(session: Session, log: UsageLog) -> None:
    Session.objects.filter(pk=session.pk).update(
        calls=F("calls") + 1,
        input_tokens=F("input_tokens") + log.input_tokens,
        output_tokens=F("output_tokens") + log.output_tokens,
        cache_write_tokens=F("cache_write_tokens") + log.cache_creation_input_tokens,
        cache_read_tokens=F("cache_read_tokens") + log.cache_read_input_tokens,
        cost_cents=F("cost_cents") + (log.cost_cents or 0),
        duration_ms=F("duration_ms") + log.duration_ms,
        last_call_at=log.started_at,
    )


def _session_for(record: UsageRecord, *, endpoint_id, started_at) -> Session | None:
    """The session a call joins: its header, else an active manual one, else Claude Code's."""
    organization_id = record.organization_id
    if record.session_name:
        session, _ = Session.objects.get_or_create(
            organization_id=organization_id,
            source=Session.Source.HEADER,
            external_id=record.session_name,
            defaults={"name": record.session_name, "started_at": started_at},
        )
        return session
    manual = (
        Session.objects.filter(
            organization_id=organization_id,
            source=Session.Source.MANUAL,
            started_at__lte=started_at,
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=started_at))
        .filter(Q(endpoint_id=endpoint_id) | Q(endpoint__isnull=True))
        # An endpoint's own session wins over an organization-wide one.
        .order_by(F("endpoint_id").asc(nulls_last=True), "-started_at")
        .first()
    )
    if manual is not None:
        return manual
    if record.claude_code_session_id:
        session, _ = Session.objects.get_or_create(
            organization_id=organization_id,
            source=Session.Source.CLAUDE_CODE,
            external_id=record.claude_code_session_id,
            defaults={
                "name": _first_prompt(record.request_body)
                or f"Claude Code {timezone.localtime(started_at):%Y-%m-%d %H:%M}",
                "started_at": started_at,
                "endpoint_id": endpoint_id,
            },
        )
        return session
    return None


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
