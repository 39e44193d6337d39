"""The ASGI application: proxy paths are served by a lean handler of their own, the rest
by Django's.

A proxy request is a pass-through, so its handler keeps of Django what it uses: the
settings, the URL patterns (proxy/urls.py, each path resolved once, then looked up) and
HttpResponse for the answers the proxy makes itself (proxy.errors). It builds no
HttpRequest (a `ProxyRequest`: scope, method, path, body), runs no middleware (each
MiddlewareMixin class costs a thread hop), no per-request thread executor and no request
signals, and sends what the view answers itself (proxy.responses). A view that raises is
a 500 in the provider's shape; a client that disconnects cancels the view, as under
Django's handler.
"""

import asyncio
import logging
import sys

from django.conf import settings
from django.http import HttpResponse
from django.urls import Resolver404, resolve

from proxy import errors
from proxy.local_only import NOT_LOOPBACK, browser_refusal, forbidden, is_loopback
from proxy.paths import PathRefused, canonical_path, query_is_clean
from proxy.responses import close, send_response

logger = logging.getLogger("codecosts.proxy")

PROXY_PATH_PREFIXES = ("/proxy/",)
LOCAL_PATH_PREFIXES = ("/anthropic/", "/openai/")
# How long the event loop, woken by a socket, waits at most for the GIL while another
# thread (the usage shipper, a page's sync view) holds it: Python's default is 5 ms, which
# each wake of a call can pay (make bench ARGS=--redis: added p99 at c=1 +0.84 ms above
# the floor's with 5 ms, +0.36 ms with 0.5 ms; CPU per streamed event 1.69x -> 1.50x).
GIL_SWITCH_SECONDS = 0.0005


class _Disconnected(Exception):
    pass


class ProxyRequest:
    """What a proxy view reads of its request: its ASGI scope, method, path and body."""

    __slots__ = ("scope", "method", "path", "body")

    def __init__(self, scope: dict, body: bytes):
        self.scope = scope
        self.method = scope["method"]
        self.path = scope["path"]
        self.body = body

    def read(self) -> bytes:
        return self.body


# (ROOT_URLCONF, path) -> its ResolverMatch: the paths clients use are few.
_ROUTES: dict[tuple[str, str], object] = {}
_ROUTES_LIMIT = 4096


def _route(path: str):
    key = (settings.ROOT_URLCONF, path)
    match = _ROUTES.get(key)
    if match is None:
        if len(_ROUTES) >= _ROUTES_LIMIT:
            _ROUTES.clear()
        match = _ROUTES[key] = resolve(path)
    return match


async def _answer(request: ProxyRequest):
    """The view's answer; the provider's 404 or 500 when there is no view or it fails."""
    try:
        match = _route(request.path)
    except Resolver404:
        return errors.error_response(
            errors.provider_for_path(request.path), 404, f"Unknown path: {request.path}"
        )
    try:
        return await match.func(request, *match.args, **match.kwargs)
    except Exception:
        logger.exception("proxy view failed: %s %s", request.method, request.path)
        return errors.error_response(
            errors.provider_for_path(request.path), 500, "Codecosts failed to handle this request."
        )


class ProxyASGIHandler:
    async def __call__(self, scope, receive, send):
        path, refused = _admit(scope)
        if refused is not None:
            await send_response(refused, send)
            return
        if path != scope["path"]:
            # Routed, metered and forwarded: only the canonical path exists from here on.
            scope = {**scope, "path": path, "raw_path": path.encode()}
        try:
            body = await read_body_capped(scope, receive)
        except _Disconnected:
            return
        if body is None:
            limit = settings.PROXY_MAX_REQUEST_BYTES
            response = errors.error_response(
                errors.provider_for_path(path), 413, f"Request body is larger than the proxy's limit of {limit} bytes."
            )
            await send_response(response, send)
            return
        response = None
        # The client's going away cancels this task: the view and the stream see
        # CancelledError (and log the call as the client's disconnect).
        this = asyncio.current_task()
        listener = asyncio.get_running_loop().create_task(_listen_for_disconnect(receive, this))
        try:
            response = await _answer(ProxyRequest(scope, body))
            await send_response(response, send)
        except asyncio.CancelledError:
            if not (listener.done() and not listener.cancelled() and listener.result()):
                raise  # not the client: the server is stopping
            this.uncancel()
        finally:
            listener.cancel()
            if response is not None:
                # The exchange's closers: they log it if its stream never started.
                close(response)


async def _listen_for_disconnect(receive, handler: asyncio.Task) -> bool:
    """Cancel the handler's task when the client goes; True then."""
    message = await receive()
    if message["type"] == "http.disconnect":
        handler.cancel()
        return True
    raise AssertionError(f"unexpected {message['type']!r} after the request body")


async def read_body_capped(scope, receive) -> bytes | None:
    """Read the whole request body into memory; None when it exceeds the limit."""
    limit = settings.PROXY_MAX_REQUEST_BYTES
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                if int(value) > limit:
                    return None
            except ValueError:
                pass
            break
    parts = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return None
            parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts) if len(parts) != 1 else parts[0]


def _admit(scope) -> tuple[str, HttpResponse | None]:
    """The request's canonical path, or the provider-shaped error that refuses it.

    Refused before routing: a path that is not canonical (400, see proxy.paths), a query
    that is not printable ASCII (400), and request headers beyond the proxy's caps (431,
    answered here rather than forwarding megabytes of headers to the provider).
    """
    try:
        path = canonical_path(scope.get("raw_path") or scope["path"].encode())
    except PathRefused as refused:
        return "", _refuse(scope, 400, f"Invalid request path: {refused}.")
    if not query_is_clean(scope.get("query_string", b"")):
        return "", _refuse(scope, 400, "Invalid query string: it may contain only printable ASCII.")
    headers = scope["headers"]
    limit = settings.PROXY_MAX_REQUEST_HEADERS
    if len(headers) > limit:
        return "", _refuse(scope, 431, f"Too many request headers: at most {limit} are accepted.")
    limit = settings.PROXY_MAX_REQUEST_HEADER_BYTES
    # Counted as on the wire: "name: value\r\n".
    if sum(len(name) + len(value) for name, value in headers) + 4 * len(headers) > limit:
        return "", _refuse(scope, 431, f"Request headers too large: at most {limit} bytes in all.")
    return path, None


def _refuse(scope, status: int, message: str) -> HttpResponse:
    return errors.error_response(errors.provider_for_path(scope["path"]), status, message)


async def _lifespan(receive, send):
    from proxy import budget_gate, upstream
    from usage import pipeline

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            sys.setswitchinterval(GIL_SWITCH_SECONDS)
            pipeline.start()
            budget_gate.start()
            pipeline.background_start()  # retention, when no Celery beat runs it
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await budget_gate.stop()
            await upstream.close()
            await asyncio.get_running_loop().run_in_executor(None, pipeline.shutdown)
            await send({"type": "lifespan.shutdown.complete"})
            return


def build_application(django_application):
    proxy_application = ProxyASGIHandler()
    proxy_prefixes = PROXY_PATH_PREFIXES + (LOCAL_PATH_PREFIXES if settings.LOCAL_MODE else ())
    local_only = settings.LOCAL_ONLY

    async def application(scope, receive, send):
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        proxied = kind == "http" and (
            scope["path"].startswith(proxy_prefixes) or scope["path"] == "/proxy"
        )
        if local_only:
            # Judged from the socket peer only, never from X-Forwarded-For.
            if not is_loopback(scope):
                if kind == "http":
                    await forbidden(scope, send, NOT_LOOPBACK, proxied)
                return
            if kind == "http" and (refusal := browser_refusal(scope)) is not None:
                await forbidden(scope, send, refusal, proxied)
                return
        if proxied:
            await proxy_application(scope, receive, send)
        else:
            await django_application(scope, receive, send)

    return application

