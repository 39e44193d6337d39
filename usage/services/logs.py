"""Usage records become usage logs: a batch in a handful of queries, idempotent per id."""

import logging
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import ApiKey, Organization
from providers.requests import RequestInfo, request_info
from proxy.models import ProxyEndpoint
from usage.attribution import Attribution, attribution_resolve
from usage.bodystore.store import pieces_write
from usage.cost_parts import call_cost_for, cost_parts_json, is_multi_part
from usage.models import UsageLog, UsageLogBody, UsageLogLabel
from usage.records import UsageRecord, body_compressed, body_raw
from usage.services.daily import log_contributions, usage_daily_add
from usage.services.rollups import usage_rollup_add
from usage.services.sessions import SessionResolver, session_totals_add
from usage.signals import usage_logs_written

logger = logging.getLogger("codecosts.usage")


def usage_log_record(*, record: UsageRecord) -> UsageLog | None:
    """Write the one UsageLog of an exchange; a second call with the same id changes nothing."""
    usage_log_record_many(records=[record])
    return UsageLog.objects.filter(id=record.id).first()


def usage_log_record_many(*, records: list[UsageRecord], missing_ok: bool = False) -> int:
    """Write a batch of usage logs, with their bodies, sessions and daily totals; return
    how many were new.

    A request refers to the body store's pieces (usage.bodystore.store); one whose piece
    is not written yet makes the batch raise PiecesMissing, unless `missing_ok` (then it
    is written, incomplete until the piece comes).

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
    if not records:
        return 0
    endpoints = set(
        str(pk)
        for pk in ProxyEndpoint.all_objects.filter(id__in={r.endpoint_id for r in records}).values_list(
            "id", flat=True
        )
    )
    # A key deleted since the call (revoked ones stay) leaves the log without it. A key
    # names the call's person: its name, or its prefix when it has none.
    key_ids = {r.api_key_id for r in records if r.api_key_id}
    keys = {
        str(pk): name or f"{prefix}…"
        for pk, name, prefix in ApiKey.objects.filter(id__in=key_ids).values_list("id", "name", "display_prefix")
    } if key_ids else {}
    try:
        with transaction.atomic():
            lacking = pieces_write(records, missing_ok=missing_ok)
            sessions = SessionResolver(records)
            logs, bodies = [], []
            for record in records:
                # A deleted endpoint's calls keep its slug.
                endpoint_id = record.endpoint_id if record.endpoint_id in endpoints else None
                request = request_facts(record)
                log = _log_build(record, request, endpoint_id=endpoint_id)
                log.api_key_id = record.api_key_id if record.api_key_id in keys else None
                _attribute(log, attribution_resolve(
                    headers=record.attribution, request=request,
                    key_name=keys.get(record.api_key_id), user_agent=record.user_agent,
                ))
                log.session = sessions.session_for(
                    record, request, endpoint_id=endpoint_id, started_at=log.started_at
                )
                logs.append(log)
                bodies.append(_body_build(record, log))
            UsageLog.objects.bulk_create(logs)
            UsageLogBody.objects.bulk_create(bodies)
            UsageLogLabel.objects.bulk_create(label for log in logs for label in log_labels(log))
            session_totals_add(logs)
            contributed = [(log, log_contributions(log, record.usage)) for log, record in zip(logs, records)]
            usage_daily_add(contributed)
            usage_rollup_add(contributed)
    except IntegrityError:
        if len(records) == 1:
            # Written meanwhile by a concurrent delivery of the same record.
            if UsageLog.objects.filter(id=records[0].id).exists():
                return 0
            raise
        # Some record was written meanwhile by another delivery: one by one, each idempotent.
        return sum(usage_log_record_many(records=[record], missing_ok=missing_ok) for record in records)
    for record_id in lacking:
        logger.warning("usage record %s: its request body lacks pieces; written incomplete", record_id)
    usage_logs_written.send(sender=UsageLog, logs=logs)
    return len(logs)


def request_facts(record: UsageRecord) -> RequestInfo:
    """What the request body says (model, Claude Code's session, its first prompt), read
    here, in the worker, so the proxy never parses a request body on the event loop.

    What the proxy saw in headers wins; the record itself is left as it came.
    """
    if record.request_facts is not None:
        info = record.request_facts  # read in the shipper, as the body was cut
    elif record.request_body:
        info = request_info(body_raw(record.request_body))
    else:
        info = RequestInfo()
    return replace(
        info,
        model=_text(record.request_model or info.model, 128),
        # Cut as the header's value is (proxy.headers): the columns hold 128 characters.
        claude_code_session_id=_text(record.claude_code_session_id or info.claude_code_session_id, 128),
        first_prompt=_text(info.first_prompt, 200),
    )


def _attribute(log: UsageLog, found: Attribution) -> None:
    """Set the log's attribution (its values hold no control characters: usage.attribution)."""
    log.person, log.person_source = found.person, found.person_source
    log.agent_id, log.parent_agent_id = found.agent_id, found.parent_agent_id
    log.request_class, log.agent_type = found.request_class, found.agent_type
    log.tags, log.properties = found.tags, found.properties
    log.attribution_warnings = found.warnings


def log_labels(log: UsageLog) -> list[UsageLogLabel]:
    """The log's tags and properties as rows the logs list filters on."""
    common = dict(log_id=log.id, organization_id=log.organization_id, started_at=log.started_at)
    labels = [UsageLogLabel(kind=UsageLogLabel.Kind.TAG, value=tag, **common) for tag in log.tags]
    labels.extend(
        UsageLogLabel(kind=UsageLogLabel.Kind.PROPERTY, name=name, value=value, **common)
        for name, value in log.properties.items()
    )
    return labels


def _text(value: str, limit: int | None = None) -> str:
    """A value read from a body, fit for a text column: PostgreSQL refuses NUL characters."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit] if limit is not None else value


def _log_build(record: UsageRecord, request: RequestInfo, *, endpoint_id) -> UsageLog:
    usage = record.usage
    started_at = datetime.fromtimestamp(record.started_at, tz=UTC)
    model = _text(usage.model, 128) or request.model
    parts = None
    if usage.seen:
        priced = call_cost_for(
            usage=usage, model=model, at=started_at, provider=record.provider, request=request
        )
        cost, parts = priced.total, cost_parts_json(priced)
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
        request_model=request.model,
        model=model,
        streamed=record.streamed,
        status_code=record.status_code,
        outcome=record.outcome,
        incomplete=record.incomplete,
        usage_missing=not usage.seen and cost is None,
        error_type=_text(usage.error_type, 64),
        error_message=_text(usage.error_message),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        web_search_requests=usage.web_search_requests,
        web_fetch_requests=usage.web_fetch_requests,
        inference_geo=_text(usage.inference_geo, 32),
        service_tier=_text(usage.service_tier, 32),
        speed=_text(usage.speed, 32),
        stop_reason=_text(usage.stop_reason, 64),
        cost_cents=cost,
        unpriced=usage.seen and cost is None,
        cost_parts=parts,
        multi_part=is_multi_part(parts, model),
        started_at=started_at,
        duration_ms=record.duration_ms,
        ttfb_ms=record.ttfb_ms,
        upstream_request_id=record.upstream_request_id,
        user_agent=record.user_agent,
        key_hint=record.key_hint,
        claude_code_session_id=request.claude_code_session_id,
        session_name=record.session_name,
    )


def _body_build(record: UsageRecord, log: UsageLog) -> UsageLogBody:
    return UsageLogBody(
        log=log,
        request_body=body_compressed(record.request_body),
        request_manifest=record.request_manifest,
        response_body=body_compressed(record.response_body),
        request_size=record.request_size,
        response_size=record.response_size,
        # Bodies dropped on the way count as cut off: kept 0 of their sizes.
        request_truncated=record.request_truncated or record.bodies_dropped,
        response_truncated=record.response_truncated or record.bodies_dropped,
        response_content_type=record.response_content_type,
        dropped=record.bodies_dropped,
        omitted=record.omitted,
    )
