"""Hot-path lookups: process memory, then the shared cache, then the database.

The proxy reads two things per call: the endpoint by slug and, when the call carries
one, the Codecosts key by its digest. A process keeps a lookup (or its absence) for
PROXY_ENDPOINT_CACHE_SECONDS (5 s by default), so a deleted endpoint or a revoked key
takes effect everywhere within that time; the shared cache entry is deleted at once by
the services that change them. A database read runs in a thread, never on the loop, and
a lookup in use is read again in the background before it expires: no call waits for it.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections

from accounts.models import ApiKey
from accounts.selectors import api_key_cache_key
from proxy.models import ProxyEndpoint
from proxy.selectors import proxy_endpoint_cache_key

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
    require_key: bool = True
    # Which bodies of its calls are kept (ProxyEndpoint.StoreBodies): decided at the edge.
    store_bodies: str = "full"


@dataclass(frozen=True, slots=True)
class KeyRef:
    id: str
    organization_id: str
    # Who the key names (its name, else its prefix): the person of its calls and budgets.
    person: str = ""


class _Lookup:
    """One kind of lookup, by a string key, with its two cache layers."""

    def __init__(
        self, name: str, cache_key: Callable[[str], str], read: Callable[[str], tuple | None], ref
    ):
        self.name = name
        self.cache_key = cache_key
        self.read = read
        self.ref = ref
        self.local: dict[str, tuple[float, object]] = {}
        self.inflight: dict[str, asyncio.Future] = {}
        self.refreshing: set[asyncio.Task] = set()
        self.load_async = sync_to_async(self.load, thread_sensitive=False)

    def load(self, key: str):
        shared_key = self.cache_key(key)
        try:
            cached = cache.get(shared_key)
        except Exception:  # noqa: BLE001 - a cache outage must not stop the proxy: ask the DB
            logger.warning("%s cache unreachable; reading from the database", self.name)
            cached = None
        if cached == _MISSING:
            return None
        if cached is not None:
            return self.ref(*cached)
        close_old_connections()
        row = self.read(key)
        ref = self.ref(*row) if row is not None else None
        try:
            if ref is None:
                cache.set(shared_key, _MISSING, MISSING_CACHE_SECONDS)
            else:
                cache.set(shared_key, astuple(ref), SHARED_CACHE_SECONDS)
        except Exception:  # noqa: BLE001
            pass
        return ref

    async def get(self, key: str):
        now = time.monotonic()
        hit = self.local.get(key)
        if hit is not None and hit[0] > now:
            if hit[0] - now < settings.PROXY_ENDPOINT_CACHE_SECONDS / 5 and key not in self.inflight:
                # In its last fifth: read again in the background, so that a key in use is
                # never waited for (and still no older than the cache's seconds).
                task = asyncio.ensure_future(self._refresh(key))
                self.refreshing.add(task)
                task.add_done_callback(self.refreshing.discard)
            return hit[1]
        return await self._fetch(key)

    async def _refresh(self, key: str) -> None:
        try:
            await self._fetch(key)
        except Exception:  # noqa: BLE001 - the entry expires as it would have; the next call reads it
            logger.warning("%s lookup could not be refreshed in the background", self.name, exc_info=True)

    async def _fetch(self, key: str):
        now = time.monotonic()
        # One lookup per key at a time: a burst of requests for a cold key shares it.
        pending = self.inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self.inflight[key] = future
        try:
            ref = await self.load_async(key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        else:
            future.set_result(ref)
        finally:
            self.inflight.pop(key, None)
        if len(self.local) >= _LOCAL_MAX_ENTRIES:
            self.local.clear()
        self.local[key] = (now + settings.PROXY_ENDPOINT_CACHE_SECONDS, ref)
        return ref


def _read_endpoint(slug: str) -> tuple | None:
    row = (
        ProxyEndpoint.objects.filter(slug=slug)
        .values_list("id", "organization_id", "slug", "rate_limit_per_minute", "require_key", "store_bodies")
        .first()
    )
    return (str(row[0]), str(row[1]), *row[2:]) if row else None


def _read_key(digest: str) -> tuple | None:
    row = (
        ApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True)
        .values_list("id", "organization_id", "name", "display_prefix")
        .first()
    )
    return (str(row[0]), str(row[1]), row[2] or f"{row[3]}…") if row else None


_endpoints = _Lookup(
    "endpoint", lambda slug: proxy_endpoint_cache_key(slug=slug), _read_endpoint, EndpointRef
)
_keys = _Lookup("key", lambda digest: api_key_cache_key(digest=digest), _read_key, KeyRef)


async def endpoint_for_slug(slug: str) -> EndpointRef | None:
    """The live endpoint with this slug, or None. Never blocks the event loop."""
    return await _endpoints.get(slug)


async def key_for_digest(digest: str) -> KeyRef | None:
    """The unrevoked key with this SHA-256 digest, or None. Never blocks the event loop."""
    return await _keys.get(digest)


def lookups_clear() -> None:
    """Forget every lookup this process holds (tests)."""
    _endpoints.local.clear()
    _keys.local.clear()
