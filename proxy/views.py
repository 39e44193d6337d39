"""The forwarding view: one async view for every provider route.

Hot path rules (DESIGN §3): no database write and no blocking call on the event loop,
streams are never buffered, and logging never fails the client's request. The exchange
is metered as bytes go by and handed to `usage.pipeline.record` when it ends.
"""

import asyncio
import logging
import time

import aiohttp
import yarl
from django.conf import settings
from django.http import HttpResponse

from accounts.selectors import api_key_hash, api_key_is_well_formed
from providers.registry import spec_for
from proxy import errors, limits, upstream
from proxy.exchange import Exchange
from proxy.headers import forward_headers, response_headers, upstream_request_id
from proxy.lookups import EndpointRef, KeyRef, endpoint_for_slug, key_for_digest
from proxy.responses import ProxyResponse
from usage.records import Outcome

logger = logging.getLogger("codecosts.proxy")

async def _caller_key(endpoint: EndpointRef, seen: dict[bytes, str]) -> KeyRef | str | None:
    """The call's Codecosts key; or why it is refused (a message); or None for no key.

    A locked endpoint needs one of its organization's unrevoked keys. A key sent to an
    open endpoint must be valid too: a typo is told, not silently ignored.
    """
    raw = seen.get(b"x-codecosts-key")
    if raw is None:
        if endpoint.require_key:
            return (
                f"Proxy endpoint '{endpoint.slug}' requires a Codecosts key: send it in "
                "the x-codecosts-key header."
            )
        return None
    raw = raw.strip()
    key = await key_for_digest(api_key_hash(raw)) if api_key_is_well_formed(raw) else None
    if key is None or key.organization_id != endpoint.organization_id:
        return f"Invalid Codecosts key for proxy endpoint '{endpoint.slug}' (x-codecosts-key)."
    return key


async def proxy_root(request, slug: str | None = None, path: str = ""):
    """Answer probes of an endpoint's root (Claude Code's HEAD <base>/api/hello) at once."""
    provider = errors.provider_for_path(request.path)
    if request.method not in ("GET", "HEAD"):
        return errors.error_response(provider, 404, f"Unknown path: {request.path}")
    if slug is not None and await endpoint_for_slug(slug) is None:
        return errors.error_response(provider, 404, f"No proxy endpoint named '{slug}'.")
    return HttpResponse(b'{"ok": true}', content_type="application/json")


async def proxy_unknown(request):
    """Any other path under /proxy/ (an uppercase, Unicode or over-long slug): the provider's 404."""
    provider = errors.provider_for_path(request.path)
    return errors.error_response(provider, 404, f"Unknown path: {request.path}")


async def proxy(request, provider: str, rest: str, slug: str = "local"):
    """Forward a request to the provider and stream the answer back, metering it."""
    endpoint = await endpoint_for_slug(slug)
    if endpoint is None:
        return errors.error_response(provider, 404, f"No proxy endpoint named '{slug}'.")
    scope = request.scope
    headers, seen = forward_headers(scope)
    # Who calls is known before anything is counted: a refused caller neither uses the
    # endpoint's rate limit nor writes anything into its organization.
    key = await _caller_key(endpoint, seen)
    if isinstance(key, str):
        return errors.error_response(provider, 401, key, code="codecosts_key_invalid")

    # `rest` is canonical (proxy.paths): it is what is metered, limited and forwarded.
    path = "/" + rest
    # A base URL that already ends in /v1 (as some docs show for local proxies) doubles it.
    if path.startswith("/v1/v1/"):
        path = path[3:]
    spec = spec_for(provider)
    meter = spec.meter_for(path)
    limit = limits.rate_limit_group(spec, path)
    if meter is not None and (spent := limits.spent_budget(provider, endpoint, key, seen, limit)):
        return spent
    if limit is not None:
        retry_after = await limits.check_rate_limit(request, endpoint, *limit)
        if retry_after is not None:
            return errors.error_response(
                provider,
                429,
                f"Rate limit exceeded for proxy endpoint '{endpoint.slug}'.",
                code="rate_limit_exceeded",
                headers={"retry-after": str(max(1, int(retry_after)))},
            )

    body = request.read()
    url = getattr(settings, spec.upstream_setting) + path
    if scope["query_string"]:
        url = f"{url}?{scope['query_string'].decode('ascii')}"
    exchange = (
        Exchange(
            endpoint=endpoint,
            api_key_id=key.id if key is not None else "",
            provider=spec.provider,
            path=path,
            body=body,
            seen_headers=seen,
            meter=meter,
        )
        if meter is not None
        else None
    )
    # A non-streaming call's whole deadline: the headers and then the body must arrive
    # before it. A stream has only the per-read timeout once its headers are in.
    deadline = asyncio.get_running_loop().time() + settings.PROXY_TOTAL_TIMEOUT
    try:
        async with asyncio.timeout_at(deadline):
            response = await upstream.session().request(
                request.method,
                # encoded: sent exactly as given, with no second normalisation.
                yarl.URL(url, encoded=True),
                data=body or None,
                headers=headers,
                timeout=upstream.timeout(),
                allow_redirects=False,
            )
    except asyncio.CancelledError:
        if exchange is not None:
            exchange.finish(Outcome.CLIENT_DISCONNECTED)
        raise
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        if exchange is not None:
            exchange.finish(Outcome.UPSTREAM_TIMEOUT)
        return errors.error_response(provider, 504, "The provider did not answer in time.")
    except (aiohttp.ClientError, OSError):
        if exchange is not None:
            exchange.finish(Outcome.UPSTREAM_UNREACHABLE)
        return errors.error_response(provider, 502, "The provider could not be reached.")

    if exchange is None:
        return await _pass_through(response, provider, deadline)
    exchange.ttfb_ms = int((time.perf_counter() - exchange.t0) * 1000)
    exchange.status = response.status
    exchange.upstream_request_id = upstream_request_id(response.headers)
    content_type = response.headers.get("content-type", "")
    exchange.response_content_type = content_type[:128]
    headers = response_headers(response.headers, exchange.log_id)
    if content_type.startswith("text/event-stream"):
        return _stream(response, exchange, headers)
    return await _buffered(response, exchange, headers, deadline)


async def _read_capped(response, deadline: float) -> bytes | None:
    """A non-streaming body, or None when it exceeds PROXY_MAX_RESPONSE_BYTES."""
    limit = settings.PROXY_MAX_RESPONSE_BYTES
    if response.content_length is not None and response.content_length > limit:
        return None
    parts = []
    size = 0
    async with asyncio.timeout_at(deadline):
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                return None
            parts.append(chunk)
    return b"".join(parts)


async def _pass_through(response, provider: str, deadline: float):
    """An unmetered route: stream SSE through, return anything else as it came."""
    headers = response_headers(response.headers, None)
    if response.headers.get("content-type", "").startswith("text/event-stream"):

        async def relay():
            try:
                async for chunk in response.content.iter_any():
                    yield chunk
            finally:
                response.close()

        streaming = ProxyResponse(response.status, headers, stream=relay())
        # Frees the upstream connection even if the client left before the stream started.
        streaming.closers.append(response.close)
        return streaming
    try:
        body = await _read_capped(response, deadline)
    except (asyncio.TimeoutError, aiohttp.ClientError):
        response.close()
        return errors.error_response(provider, 504, "The provider stopped answering.")
    finally:
        response.release()
    if body is None:
        response.close()
        return errors.error_response(provider, 502, "The provider's response is too large.")
    return ProxyResponse(response.status, headers, body=body)


async def _buffered(response, exchange: Exchange, headers, deadline: float):
    provider = exchange.provider
    try:
        body = await _read_capped(response, deadline)
    except asyncio.CancelledError:
        response.close()
        exchange.finish(Outcome.CLIENT_DISCONNECTED)
        raise
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        response.close()
        exchange.finish(Outcome.UPSTREAM_TIMEOUT, status=504)
        return errors.error_response(provider, 504, "The provider stopped answering.")
    except aiohttp.ClientError:
        response.close()
        exchange.finish(Outcome.UPSTREAM_ERROR, incomplete=True, status=502)
        return errors.error_response(provider, 502, "The provider's response was cut off.")
    response.release()
    if body is None:
        response.close()
        exchange.finish(Outcome.RESPONSE_TOO_LARGE, status=502)
        return errors.error_response(provider, 502, "The provider's response is too large.")
    exchange.meter.feed_body(body)
    exchange.keep(body)
    exchange.finish(Outcome.OK if response.status < 400 else Outcome.UPSTREAM_ERROR)
    return ProxyResponse(response.status, headers, body=body)


def _stream(response, exchange: Exchange, headers) -> ProxyResponse:
    exchange.streamed = True
    headers["cache-control"], headers["x-accel-buffering"] = "no-cache", "no"

    async def relay():
        outcome = Outcome.OK if response.status < 400 else Outcome.UPSTREAM_ERROR
        usage, journalled = exchange.meter.usage, False
        try:
            # Each chunk is written to the client before the next one is read.
            async for chunk in response.content.iter_any():
                exchange.meter.feed(chunk)
                exchange.keep(chunk)
                if not journalled and usage.seen:
                    journalled = exchange.journal_usage()
                yield chunk
            exchange.meter.close()
        except asyncio.CancelledError:
            outcome = Outcome.CLIENT_DISCONNECTED
            raise
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            outcome = Outcome.UPSTREAM_TIMEOUT
            yield errors.stream_error_event(
                exchange.provider, 504, "The provider stopped sending for too long."
            )
        except aiohttp.ClientError:
            outcome = Outcome.UPSTREAM_ERROR
            exchange.meter.usage.error_type = exchange.meter.usage.error_type or "connection_lost"
            yield errors.stream_error_event(exchange.provider, 502, "The provider's stream was cut off.")
        finally:
            response.close()
            exchange.finish(outcome)

    streaming = ProxyResponse(response.status, headers, stream=relay())
    # If the client goes away before the stream starts, the generator never runs; the
    # response's closers still log the exchange and free the upstream connection.
    streaming.closers.append(lambda: (response.close(), exchange.finish(Outcome.CLIENT_DISCONNECTED)))
    return streaming
