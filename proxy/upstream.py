"""The one shared HTTP client that talks to the providers.

aiohttp rather than httpx on this path: measured on this machine, httpx's async pool
tops out near 225-300 requests/s per process at 1-2.7 ms CPU per request, while an
aiohttp ClientSession reaches 770-880 (README, "Choices that decided the hot path").
"""

import asyncio
import functools

import aiohttp
from django.conf import settings

_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def session() -> aiohttp.ClientSession:
    """The client session of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    client = _sessions.get(loop)
    if client is None or client.closed:
        connector = aiohttp.TCPConnector(
            limit=settings.PROXY_MAX_CONNECTIONS,
            limit_per_host=settings.PROXY_MAX_CONNECTIONS,
            ttl_dns_cache=300,
            keepalive_timeout=60,
        )
        client = aiohttp.ClientSession(
            connector=connector,
            # Forward exactly what the client sent: no User-Agent of our own.
            skip_auto_headers=("User-Agent",),
            # Errors come back as responses to pass through, never as exceptions.
            raise_for_status=False,
            # Cookies are never forwarded nor kept.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
        )
        _sessions[loop] = client
    return client


def timeout() -> aiohttp.ClientTimeout:
    return _timeout(settings.PROXY_CONNECT_TIMEOUT, settings.PROXY_READ_TIMEOUT)


@functools.lru_cache(maxsize=8)
def _timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    # Immutable: one per setting, not one per call.
    return aiohttp.ClientTimeout(
        total=None,
        sock_connect=connect,
        # No byte from upstream for this long cancels the request.
        sock_read=read,
    )


async def close() -> None:
    loop = asyncio.get_running_loop()
    client = _sessions.pop(loop, None)
    if client is not None:
        await client.close()
