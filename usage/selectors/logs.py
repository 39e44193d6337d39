"""Reads of usage logs: the filtered list, and the usage and cost a stored log stands for."""

import uuid
from decimal import Decimal

from django.db.models import Exists, F, OuterRef, QuerySet

from providers.tokens import TokenUsage
from usage.cost_parts import COUNTS, StoredPart, stored_parts
from usage.models import UsageLog, UsageLogLabel
from usage.pricing import CLASSES, PART_LABELS, cost_breakdown
from usage.time_range import TimeRange

# The columns a log list reads: never the bodies, nor the long error message.
USAGE_LOG_LIST_FIELDS = (
    "id",
    "organization_id",
    "endpoint_id",
    "endpoint_slug",
    "session_id",
    "provider",
    "path",
    "model",
    "request_model",
    "streamed",
    "status_code",
    "outcome",
    "incomplete",
    "usage_missing",
    "error_type",
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
    "cost_cents",
    "unpriced",
    "started_at",
    "duration_ms",
    "ttfb_ms",
    "upstream_request_id",
    "user_agent",
    "key_hint",
    "claude_code_session_id",
    "person",
    "person_source",
    "agent_id",
    "parent_agent_id",
    "request_class",
    "agent_type",
    "tags",
    "properties",
)

# The `session` filter's value for calls outside any session.
NO_SESSION = "none"
# The person, request_class, agent_type, tag or property filter's value for calls without one.
NOT_SET = "(none)"


def usage_log_list(
    *,
    queryset: QuerySet[UsageLog],
    endpoint: str = "",
    model: str = "",
    outcome: str = "",
    session: uuid.UUID | str | None = None,
    person: str = "",
    request_class: str = "",
    agent_type: str = "",
    agent: str = "",
    tag: str = "",
    property: tuple[str, str] | None = None,
    time_range: TimeRange = TimeRange(),
    organization_id=None,
) -> QuerySet[UsageLog]:
    """Narrow logs by the list filters; only the list's columns, never a join to the bodies.

    `endpoint` is an endpoint id or slug (a slug also finds calls of a since-deleted
    endpoint); `session` a session id or NO_SESSION; `agent` a subagent run's agent id;
    `property` a (name, value) pair. NOT_SET as a person, request class, agent type, tag
    or property value finds the calls without one. Empty values do not filter.
    `organization_id` (that of `queryset`'s logs) lets a tag or property filter read its
    index.
    """
    queryset = queryset.only(*USAGE_LOG_LIST_FIELDS)
    if endpoint:
        try:
            queryset = queryset.filter(endpoint_id=uuid.UUID(endpoint))
        except ValueError:
            queryset = queryset.filter(endpoint_slug=endpoint)
    if model:
        queryset = queryset.filter(model=model)
    if outcome:
        queryset = queryset.filter(outcome=outcome)
    if session == NO_SESSION:
        queryset = queryset.filter(session__isnull=True)
    elif session:
        queryset = queryset.filter(session_id=session)
    for field, value in (("person", person), ("request_class", request_class), ("agent_type", agent_type)):
        if value:
            queryset = queryset.filter(**{field: "" if value == NOT_SET else value})
    # The excludes state the conditions of the partial indexes usagelog_org_agenttype and
    # usagelog_org_agent: SQLite uses a partial index only when the query says so itself.
    if agent_type and agent_type != NOT_SET:
        queryset = queryset.exclude(agent_type="")
    if agent:
        queryset = queryset.filter(agent_id=agent).exclude(agent_id="")
    if tag:
        queryset = _labelled(
            queryset, kind=UsageLogLabel.Kind.TAG, name="", value=tag,
            time_range=time_range, organization_id=organization_id,
        )
    if property is not None:
        name, value = property
        queryset = _labelled(
            queryset, kind=UsageLogLabel.Kind.PROPERTY, name=name, value=value,
            time_range=time_range, organization_id=organization_id,
        )
    return time_range.filter(queryset)


def _labelled(
    queryset: QuerySet[UsageLog],
    *,
    kind: str,
    name: str,
    value: str,
    time_range: TimeRange,
    organization_id,
) -> QuerySet[UsageLog]:
    """The logs with this tag or property value (or, for NOT_SET, without any such label).

    A value is a join, not `id IN (labels)`: a log has at most one label of a kind, name
    and value (its tags are distinct, its properties a dict), so no log comes twice, and
    with the label's started_at and organization equal to the log's the database reads the
    label index (…, value, -started_at, -log) in the list's order and stops at the page's
    end, however common the value.
    """
    if value == NOT_SET:
        # NOT EXISTS rather than NOT IN: PostgreSQL hashes a NOT IN subquery only while it
        # fits in work_mem, else runs it again for every log (25 s for 700,000 labels); a
        # NOT EXISTS is an anti-join on the label's log_id index.
        return queryset.exclude(
            Exists(UsageLogLabel.objects.filter(log_id=OuterRef("id"), kind=kind, name=name))
        )
    # One filter() call: one join, every condition on the same label.
    match = {
        "labels__organization_id": organization_id or F("organization_id"),
        "labels__kind": kind,
        "labels__name": name,
        "labels__value": value,
        "labels__started_at": F("started_at"),
    }
    if time_range.since is not None:
        match["labels__started_at__gte"] = time_range.since
    if time_range.until is not None:
        match["labels__started_at__lt"] = time_range.until
    return queryset.filter(**match)


def usage_log_token_usage(log: UsageLog) -> TokenUsage:
    """The TokenUsage a stored log was priced from."""
    cache_5m, cache_1h = log.cache_write_5m_tokens, log.cache_write_1h_tokens
    if cache_5m + cache_1h < log.cache_write_tokens:
        # Only the total was kept: the rest counts as 5-minute writes.
        cache_5m = log.cache_write_tokens - cache_1h
    return TokenUsage(
        model=log.model or log.request_model,
        input_tokens=log.input_tokens,
        output_tokens=log.output_tokens,
        cache_write_5m_tokens=cache_5m,
        cache_write_1h_tokens=cache_1h,
        cache_read_tokens=log.cache_read_tokens,
        reasoning_tokens=log.reasoning_tokens,
        web_search_requests=log.web_search_requests,
        web_fetch_requests=log.web_fetch_requests,
        inference_geo=log.inference_geo,
        service_tier=log.service_tier,
        speed=log.speed,
    )


def usage_log_cost_breakdown(log: UsageLog) -> dict[str, Decimal] | None:
    """Cents per token class and server tool, over every billed part; None for an
    unpriced call."""
    if log.cost_cents is None:
        return None
    if log.cost_parts:
        totals = dict.fromkeys(CLASSES, Decimal(0))
        for part in stored_parts(log.cost_parts):
            for name, value in part.classes.items():
                totals[name] += value
        return totals
    # Written before parts were kept: priced again from the columns.
    usage = usage_log_token_usage(log)
    return cost_breakdown(model=usage.model, usage=usage, at=log.started_at, provider=log.provider)


def usage_log_cost_parts(log: UsageLog) -> list[StoredPart]:
    """The call part by part (executor, advisor, compaction, fallback attempts, server
    tools); a log written before parts were kept is its columns, as one part."""
    if log.cost_parts:
        return stored_parts(log.cost_parts)
    usage = usage_log_token_usage(log)
    if not log.cost_cents and not any(getattr(usage, name) for name in COUNTS):
        return []
    return [
        StoredPart(
            kind="message",
            label=PART_LABELS["message"],
            model=usage.model,
            billed=True,
            note="",
            speed=usage.speed,
            counts={name: getattr(usage, name) for name in COUNTS},
            cost=log.cost_cents,
        )
    ]


def usage_log_cost_by_model(log: UsageLog) -> dict[str, Decimal] | None:
    """Cents per model that ran a billed part; None for an unpriced call."""
    if log.cost_cents is None:
        return None
    models: dict[str, Decimal] = {}
    for part in usage_log_cost_parts(log):
        if part.billed and part.cost is not None:
            models[part.model] = models.get(part.model, Decimal(0)) + part.cost
    return models
