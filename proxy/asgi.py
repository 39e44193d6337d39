"""The ASGI application: a lean Django handler for proxy paths, Django's own for the rest.

Proxy requests skip what makes Django's stock ASGI handler slow for a pass-through: the
middleware stack (sessions, CSRF, auth, messages: each MiddlewareMixin class costs a thread
hop), the per-request thread executor of ThreadSensitiveContext, and the request signals
whose receivers only manage database connections of the event-loop thread, which the
proxy never uses. URL routing, requests and responses are still Django's.
"""

import asyncio
import io
import ipaddress
from contextlib import closing

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.core.exceptions import RequestAborted
from django.urls import set_script_prefix

from proxy import errors

PROXY_PATH_PREFIXES = ("/proxy/",)
LOCAL_PATH_PREFIXES = ("/anthropic/", "/openai/")


class _RequestProcessed(Exception):
    pass


class ProxyASGIHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        provider = errors.provider_for_path(scope["path"])
        try:
            body = await self.read_body_capped(scope, receive)
        except RequestAborted:
            return
        if body is None:
            limit = settings.PROXY_MAX_REQUEST_BYTES
            response = errors.error_response(
                provider, 413, f"Request body is larger than the proxy's limit of {limit} bytes."
            )
            await self.send_response(response, send)
            return

        set_script_prefix(get_script_prefix(scope))
        with closing(body):
            request, error_response = self.create_request(scope, body)
            if request is None:
                await self.send_response(error_response, send)
                return
            response = None
            try:
                try:
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self.listen_for_disconnect(receive))
                        response = await self.run_get_response(request)
                        await self.send_response(response, send)
                        raise _RequestProcessed
                except* (_RequestProcessed, RequestAborted):
                    pass
            finally:
                if response is not None:
                    # Runs the exchange's closers (which log it if the stream never
                    # started). The request_finished receivers find no database
                    # connection on this thread, so this never blocks.
                    response.close()

    async def read_body_capped(self, scope, receive):
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
                raise RequestAborted()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    return None
                parts.append(chunk)
            if not message.get("more_body", False):
                break
        return io.BytesIO(b"".join(parts) if len(parts) != 1 else parts[0])


def _is_loopback(scope) -> bool:
    client = scope.get("client")
    if not client:
        # No socket peer (a Unix socket, or an in-process test client): not a remote host.
        return True
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    # A server bound to :: sees IPv4 peers as ::ffff:a.b.c.d.
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


async def _forbidden(send):
    body = b'{"error": "Codecosts runs in local-only mode and accepts loopback connections only."}'
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive, send):
    from proxy import upstream
    from usage import pipeline

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            pipeline.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
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
        # Judged from the socket peer only, never from X-Forwarded-For.
        if local_only and not _is_loopback(scope):
            if kind == "http":
                await _forbidden(send)
            return
        if kind == "http" and scope["path"].startswith(proxy_prefixes):
            await proxy_application(scope, receive, send)
        else:
            await django_application(scope, receive, send)

    return application

