"""Endpoint lookup for the hot path: process memory, then the shared cache, then the DB.

A process keeps a lookup for PROXY_ENDPOINT_CACHE_SECONDS (5 s by default), so a deleted
or changed endpoint takes effect everywhere within that time; the shared cache entry is
deleted by the endpoint services at once.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections

from proxy.models import ProxyEndpoint
from proxy.selectors import ENDPOINT_CACHE_KEY

logger = logging.getLogger("codecosts.proxy")

SHARED_CACHE_SECONDS = 300
MISSING_CACHE_SECONDS = 10
_MISSING = "missing"
_LOCAL_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class EndpointRef:
    id: str
    organization_id: str
    slug: str
    rate_limit_per_minute: int | None


_local: dict[str, tuple[float, EndpointRef | None]] = {}
_inflight: dict[str, asyncio.Future] = {}


def _load(slug: str) -> EndpointRef | None:
    key = ENDPOINT_CACHE_KEY.format(slug=slug)
    try:
        cached = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not stop the proxy: ask the DB
        logger.warning("endpoint cache unreachable; reading %s from the database", slug)
        cached = None
    if cached == _MISSING:
        return None
    if cached is not None:
        return EndpointRef(*cached)
    close_old_connections()
    row = (
        ProxyEndpoint.objects.filter(slug=slug)
        .values_list("id", "organization_id", "slug", "rate_limit_per_minute")
        .first()
    )
    ref = EndpointRef(str(row[0]), str(row[1]), row[2], row[3]) if row else None
    try:
        if ref is None:
            cache.set(key, _MISSING, MISSING_CACHE_SECONDS)
        else:
            cache.set(key, (ref.id, ref.organization_id, ref.slug, ref.rate_limit_per_minute), SHARED_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        pass
    return ref


_load_async = sync_to_async(_load, thread_sensitive=False)


async def endpoint_for_slug(slug: str) -> EndpointRef | None:
    """The endpoint with this slug, or None. Never blocks the event loop."""
    now = time.monotonic()
    hit = _local.get(slug)
    if hit is not None and hit[0] > now:
        return hit[1]
    # One lookup per slug at a time: a burst of requests for a cold slug shares it.
    pending = _inflight.get(slug)
    if pending is not None:
        return await asyncio.shield(pending)
    future = asyncio.get_running_loop().create_future()
    _inflight[slug] = future
    try:
        ref = await _load_async(slug)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
        raise
    else:
        future.set_result(ref)
    finally:
        _inflight.pop(slug, None)
    if len(_local) >= _LOCAL_MAX_ENTRIES:
        _local.clear()
    _local[slug] = (now + settings.PROXY_ENDPOINT_CACHE_SECONDS, ref)
    return ref


def endpoint_cache_clear() -> None:
    """Forget every lookup this process holds (tests)."""
    _local.clear()
