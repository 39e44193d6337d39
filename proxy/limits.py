"""What refuses a call before it is forwarded, once its endpoint and key are known: a spent
budget's hard limit, then the endpoint's rate limit."""

import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django_ratelimit.core import get_usage

from providers.spec import COUNT_TOKENS_GROUP, MESSAGES_GROUP
from proxy import budget_gate, errors
from proxy.lookups import EndpointRef, KeyRef
from usage.records import person_from_header

logger = logging.getLogger("codecosts.proxy")

_rate_limit_usage = sync_to_async(get_usage, thread_sensitive=False)


def rate_limit_group(spec, path: str) -> tuple[str, int] | None:
    """The rate-limit group and per-minute limit of a (canonical) path, or None when unlimited."""
    group = spec.rate_limit_group(path)
    if group == MESSAGES_GROUP:
        return group, settings.RATE_LIMIT_MESSAGES_PER_MINUTE
    if group == COUNT_TOKENS_GROUP:
        return group, settings.RATE_LIMIT_COUNT_TOKENS_PER_MINUTE
    return None


async def check_rate_limit(request, endpoint: EndpointRef, group: str, default: int):
    """Return a 429 response when the endpoint is over its limit for this group."""
    limit = default
    if group == MESSAGES_GROUP and endpoint.rate_limit_per_minute is not None:
        limit = endpoint.rate_limit_per_minute
    if not limit:
        return None
    try:
        usage = await _rate_limit_usage(
            request,
            group=group,
            key=lambda _group, _request: endpoint.slug,
            rate=f"{limit}/m",
            increment=True,
        )
    except Exception:  # noqa: BLE001 - with the shared cache down, fail open, never closed
        logger.warning("rate limit cache unreachable; %s not limited", endpoint.slug)
        return None
    if usage is None or not usage["should_limit"]:
        return None
    return usage["time_left"]


def spent_budget(provider: str, endpoint: EndpointRef, key: KeyRef | None, seen, limit):
    """A 429 naming the spent budget that covers this billed call, or None. count_tokens
    is never refused. The person is the key's, else x-codecosts-user's.

    Claude Code stops at once on a 429 whose retry-after is above 60 s and shows the
    message (its gateway docs; tests/budgets run the CLI); x-should-retry: false keeps
    both SDKs from retrying: they raise RateLimitError at once.
    """
    if limit is not None and limit[0] == COUNT_TOKENS_GROUP:
        return None
    if not budget_gate.blocks_in(endpoint.organization_id):
        return None  # the usual case: one dictionary lookup
    person = key.person if key is not None else person_from_header(seen.get(b"x-codecosts-user", ""))
    held = budget_gate.refusal(endpoint.organization_id, endpoint.id, person, key.id if key else "")
    if held is None:
        return None
    resets_in = int(held.reset_at - budget_gate.clock()) + 1
    return errors.error_response(
        provider,
        429,
        held.message,
        code="budget_exceeded",
        headers={"retry-after": str(max(61, resets_in)), "x-should-retry": "false"},
    )
