"""Staff views of usage: logs and daily totals read-only, sessions renamed at most.

A log's bodies are shown decompressed. They hold what the client sent and received,
never its credentials: API keys travel in headers, which are not stored (only the last
four characters, `key_hint`).
"""

import zlib

from django.contrib import admin
from django.utils.html import format_html

from usage.bodystore.store import request_bytes
from usage.models import Session, UsageDaily, UsageLog

# Enough to read a conversation; a full 4 MB body would make the admin page unusable.
BODY_DISPLAY_MAX_CHARS = 200_000


def _body_text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if len(text) > BODY_DISPLAY_MAX_CHARS:
        text = (
            text[:BODY_DISPLAY_MAX_CHARS]
            + f"\n… ({len(text) - BODY_DISPLAY_MAX_CHARS} more characters)"
        )
    return text


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageLog)
class UsageLogAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "organization",
        "endpoint_slug",
        "model",
        "outcome",
        "status_code",
        "cost_cents",
        "duration_ms",
    ]
    list_filter = ["outcome", "provider", "streamed", "unpriced"]
    list_select_related = ["organization"]
    search_fields = ["=id", "model", "endpoint_slug", "upstream_request_id"]
    ordering = ["-started_at", "-id"]
    # COUNT(*) over millions of logs on every page is not worth the total.
    show_full_result_count = False
    # Every column, read-only (the endpoint shows as its slug, which outlives it), then
    # the bodies decompressed.
    fields = readonly_fields = [
        *(field.name for field in UsageLog._meta.fields if field.name != "endpoint"),
        "request_body",
        "response_body",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("body", "organization", "session")

    @admin.display(description="Request body")
    def request_body(self, log):
        body = getattr(log, "body", None)
        if body is None:
            return "—"
        note = " (truncated)" if body.request_truncated else ""
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 40rem; overflow: auto">{}</pre>{}',
            _body_text(request_bytes(log.organization_id, body)[0]),
            note,
        )

    @admin.display(description="Response body")
    def response_body(self, log):
        body = getattr(log, "body", None)
        if body is None:
            return "—"
        note = " (truncated)" if body.response_truncated else ""
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 40rem; overflow: auto">{}</pre>{}',
            _body_text(zlib.decompressobj().decompress(bytes(body.response_body))),
            note,
        )


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "organization",
        "source",
        "started_at",
        "ended_at",
        "calls",
        "cost_cents",
    ]
    list_filter = ["source"]
    list_select_related = ["organization"]
    search_fields = ["name", "external_id", "organization__name"]
    ordering = ["-started_at"]
    fields = [
        "id",
        "organization",
        "endpoint",
        "name",
        "source",
        "external_id",
        "started_at",
        "ended_at",
        "last_call_at",
        "calls",
        "input_tokens",
        "output_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "cost_cents",
        "duration_ms",
    ]
    # Totals are kept by the usage writer; only the name is for people to change.
    readonly_fields = [name for name in fields if name != "name"]

    def has_add_permission(self, request):
        return False


@admin.register(UsageDaily)
class UsageDailyAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "organization",
        "endpoint_slug",
        "model",
        "calls",
        "error_calls",
        "cost_cents",
    ]
    list_filter = ["provider"]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "endpoint_slug", "model"]
    ordering = ["-day"]
