"""The usage app's models: logs, their bodies and labels, sessions and the rollups.

One module on purpose: Django looks for an app's models in one module, and these are
read together (each rollup names the log fields it sums).
"""

import uuid

from django.db import models

from accounts.models import ApiKey, Organization
from proxy.models import ProxyEndpoint
from usage.records import Outcome

# Exact to 1e-10 cents; up to 10^10 cents per row.
COST_FIELD = dict(max_digits=22, decimal_places=10)


class Session(models.Model):
    """A named stretch of work whose calls are grouped and totalled together."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        HEADER = "header", "Header"
        CLAUDE_CODE = "claude_code", "Claude Code"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sessions"
    )
    endpoint = models.ForeignKey(
        ProxyEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    # What identifies a header or Claude Code session across calls (header value, session id).
    external_id = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    last_call_at = models.DateTimeField(null=True, blank=True)

    calls = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cost_cents = models.DecimalField(default=0, **COST_FIELD)
    duration_ms = models.BigIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-started_at", "-id"]),
            models.Index(fields=["organization", "source", "external_id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "source", "external_id"],
                condition=~models.Q(external_id=""),
                name="session_external_id_unique",
            )
        ]

    def __str__(self):
        return self.name


class PersonSource(models.TextChoices):
    """How a call's person was told (usage.attribution), strongest first."""

    KEY = "key", "Codecosts key"
    HEADER = "header", "x-codecosts-user"
    BODY = "body", "Request body (metadata.user_id, user)"


class UsageLog(models.Model):
    """One proxied call: who, which model, tokens by class, cost, timing and outcome."""

    Outcome = Outcome  # the proxy's (usage.records), so both sides use one enum

    # Made at the edge and returned to the client as x-codecosts-log-id; its uniqueness
    # makes a retried write harmless.
    id = models.UUIDField(primary_key=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="usage_logs"
    )
    endpoint = models.ForeignKey(
        ProxyEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_logs"
    )
    endpoint_slug = models.CharField(max_length=63)
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_logs"
    )

    provider = models.CharField(max_length=16)
    path = models.CharField(max_length=255)
    request_model = models.CharField(max_length=128, blank=True)
    model = models.CharField(max_length=128, blank=True)
    streamed = models.BooleanField(default=False)

    status_code = models.PositiveSmallIntegerField(null=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, default=Outcome.OK)
    # Usage is partial: the exchange ended before the provider's final usage arrived.
    incomplete = models.BooleanField(default=False)
    # The response carried no usage at all (e.g. an OpenAI stream without include_usage).
    usage_missing = models.BooleanField(default=False)
    error_type = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    # Total cache writes (5m + 1h); the API names it cache_creation_input_tokens.
    cache_write_tokens = models.BigIntegerField(default=0)
    cache_write_5m_tokens = models.BigIntegerField(default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)  # API: cache_read_input_tokens
    # Thinking/reasoning tokens: a breakdown of output_tokens, never added to it.
    reasoning_tokens = models.BigIntegerField(default=0)
    web_search_requests = models.PositiveIntegerField(default=0)
    web_fetch_requests = models.PositiveIntegerField(default=0)
    inference_geo = models.CharField(max_length=32, blank=True)
    service_tier = models.CharField(max_length=32, blank=True)
    speed = models.CharField(max_length=32, blank=True)
    stop_reason = models.CharField(max_length=64, blank=True)

    # Null when no price applies: an unpriced model or unknown usage. Never a made-up zero.
    cost_cents = models.DecimalField(null=True, blank=True, **COST_FIELD)
    unpriced = models.BooleanField(default=False)
    # The call part by part (usage.pricing.parts: executor, advisor, compaction, fallback
    # attempts, server tools), each with its model, tokens and cost in cents (a decimal
    # string; null where the table has no price): usage.services.cost_parts. Null for logs
    # written before parts were kept (recompute_costs fills them in).
    cost_parts = models.JSONField(null=True, blank=True)
    # The call has parts beyond its top-level usage (an advisor, compaction, a declined
    # attempt) or on another model than `model`: daily totals and summaries count each
    # part under the model that ran it.
    multi_part = models.BooleanField(default=False)

    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    ttfb_ms = models.PositiveIntegerField(null=True, blank=True)
    upstream_request_id = models.CharField(max_length=128, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    # The Codecosts key (x-codecosts-key) the call was made with, if any.
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_logs"
    )
    # Last 4 characters of the provider key, for attribution. The key itself is never kept.
    key_hint = models.CharField(max_length=8, blank=True)
    claude_code_session_id = models.CharField(max_length=128, blank=True)
    session_name = models.CharField(max_length=200, blank=True)

    # Who and what spent it (usage.attribution): the person, how they were identified,
    # Claude Code's agent and request class, and the caller's tags and properties.
    person = models.CharField(max_length=100, blank=True)
    person_source = models.CharField(max_length=8, choices=PersonSource.choices, blank=True)
    agent_id = models.CharField(max_length=64, blank=True)
    parent_agent_id = models.CharField(max_length=64, blank=True)
    request_class = models.CharField(max_length=32, blank=True)
    agent_type = models.CharField(max_length=64, blank=True)
    tags = models.JSONField(default=list, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # What of the attribution headers was cut or left out, and why (lengths, characters, counts).
    attribution_warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-started_at", "-id"]),
            models.Index(fields=["organization", "endpoint", "-started_at"]),
            # Filtering by slug finds the calls of since-deleted endpoints too.
            models.Index(
                fields=["organization", "endpoint_slug", "-started_at", "-id"],
                name="usagelog_org_slug_started",
            ),
            models.Index(fields=["organization", "model", "-started_at"]),
            # Failures are the rare rows people look for; ok calls need no index of their own.
            models.Index(
                fields=["organization", "outcome", "-started_at", "-id"],
                condition=~models.Q(outcome="ok"),
                name="usagelog_org_outcome_notok",
            ),
            models.Index(fields=["session", "-started_at"]),
            models.Index(
                fields=["organization", "person", "-started_at", "-id"],
                name="usagelog_org_person_started",
            ),
            models.Index(
                fields=["organization", "request_class", "-started_at", "-id"],
                name="usagelog_org_class_started",
            ),
            models.Index(
                fields=["organization", "agent_type", "-started_at", "-id"],
                condition=~models.Q(agent_type=""),
                name="usagelog_org_agenttype",
            ),
            # The calls of one subagent run (the Agents view's most expensive runs).
            models.Index(
                fields=["organization", "agent_id", "started_at"],
                condition=~models.Q(agent_id=""),
                name="usagelog_org_agent",
            ),
        ]

    def __str__(self):
        return f"{self.model or self.request_model} {self.started_at:%Y-%m-%d %H:%M:%S}"


class UsageLogLabel(models.Model):
    """One tag or property of a log, apart so that the logs list filters by it on an index.

    The log itself keeps its tags and properties (UsageLog.tags, .properties) for display.
    """

    class Kind(models.TextChoices):
        TAG = "tag", "Tag"
        PROPERTY = "property", "Property"

    log = models.ForeignKey(UsageLog, on_delete=models.CASCADE, related_name="labels")
    # No index of its own: both below lead with it.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The property's name; "" for a tag.
    name = models.CharField(max_length=64, blank=True)
    value = models.CharField(max_length=200)
    started_at = models.DateTimeField()

    class Meta:
        indexes = [
            # In the logs list's order, (started_at, log) newest first: a page of a tag or
            # property value is read off the index and stops at the page's end
            # (usage.selectors.logs._labelled), however common the value.
            models.Index(
                fields=["organization", "kind", "name", "value", "-started_at", "-log"],
                name="usagelabel_lookup",
            ),
            # Every value of a tag or property in a time range: a summary's part of a day
            # (usage.selectors.summary._label_rows).
            models.Index(
                fields=["organization", "kind", "name", "started_at"], name="usagelabel_range"
            ),
        ]


class UsageLogBody(models.Model):
    """Request and response bodies, zlib-compressed, apart so log lists never load them."""

    log = models.OneToOneField(
        UsageLog, primary_key=True, on_delete=models.CASCADE, related_name="body"
    )
    request_body = models.BinaryField()
    response_body = models.BinaryField()
    request_size = models.PositiveBigIntegerField(default=0)
    response_size = models.PositiveBigIntegerField(default=0)
    request_truncated = models.BooleanField(default=False)
    response_truncated = models.BooleanField(default=False)
    response_content_type = models.CharField(max_length=128, blank=True)
    # Left out on the way (usage.pipeline): the call is logged, its bodies are not.
    dropped = models.BooleanField(default=False)
    # The request as the body store keeps it (usage.bodystore): the pieces it is made of
    # (BodyPiece digests) and where each goes in request_body, which then holds the rest.
    # Empty: request_body holds the whole request.
    request_manifest = models.BinaryField(default=b"", blank=True)
    # Left out on purpose: "request", "response" or "all" (the endpoint's store_bodies or
    # the call's x-codecosts-omit); "" for none.
    omitted = models.CharField(max_length=16, blank=True, default="")


class BodyPiece(models.Model):
    """A part of request bodies (a system block, a tool, a message), stored once per
    organization however many requests repeat it; zlib-compressed."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    digest = models.BinaryField(max_length=16)  # BLAKE2b-128 of the piece's bytes
    data = models.BinaryField()
    size = models.PositiveIntegerField()
    # The day of the latest call using it: a piece unused since the bodies' retention is
    # referenced by no body kept, and collected (usage.services.retention).
    last_used = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "digest"], name="body_piece_unique")
        ]
        indexes = [models.Index(fields=["organization", "last_used"])]


class RetentionMark(models.Model):
    """How far retention has gone in an organization (usage.services.retention).

    `bodies_before`: the bodies of every log started before it were deleted, so each run
    reads only the logs started since (less a day, for records written late), not every
    old log again. `logs_before`: every log started before it was deleted; the days up to
    it keep the totals they had when whole, and rebuilds from the logs leave them alone.
    """

    organization = models.OneToOneField(
        Organization, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    bodies_before = models.DateTimeField(null=True, blank=True)
    logs_before = models.DateTimeField(null=True, blank=True)


class UsageDaily(models.Model):
    """Totals per organization, day, endpoint and model, kept by the usage writer.

    Dashboards read these instead of scanning millions of logs. `usage_daily_rebuild`
    recomputes them from the logs (after repricing, say).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="usage_daily"
    )
    day = models.DateField()
    endpoint = models.ForeignKey(
        ProxyEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    endpoint_slug = models.CharField(max_length=63)
    provider = models.CharField(max_length=16)
    model = models.CharField(max_length=128)

    calls = models.PositiveIntegerField(default=0)
    error_calls = models.PositiveIntegerField(default=0)
    unpriced_calls = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_write_5m_tokens = models.BigIntegerField(default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    web_search_requests = models.BigIntegerField(default=0)
    cost_cents = models.DecimalField(default=0, **COST_FIELD)
    # What cache reads saved against paying the full input price for those tokens.
    cache_savings_cents = models.DecimalField(default=0, **COST_FIELD)
    duration_ms = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "day", "endpoint_slug", "provider", "model"],
                name="usage_daily_unique",
            )
        ]
        indexes = [models.Index(fields=["organization", "day"])]


class UsageRollup(models.Model):
    """Totals per organization, day and one attribution dimension, kept by the usage writer.

    `dimension` is `person`, `request_class`, `agent_type`, `session`, `agent` (a
    subagent run's agent id), `tag` or `property:<name>`; `key` its value, "" for calls
    without one (no person, no session, no tag; properties and agents have no "" row).
    A call with two tags counts under both. `usage_daily_rebuild` rebuilds these too.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    dimension = models.CharField(max_length=73)
    key = models.CharField(max_length=200, blank=True)

    calls = models.PositiveIntegerField(default=0)
    error_calls = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_write_5m_tokens = models.BigIntegerField(default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cost_cents = models.DecimalField(default=0, **COST_FIELD)
    cache_savings_cents = models.DecimalField(default=0, **COST_FIELD)
    duration_ms = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "dimension", "key", "day"], name="usage_rollup_unique"
            )
        ]
        indexes = [models.Index(fields=["organization", "dimension", "day"], name="usagerollup_dim_day")]
