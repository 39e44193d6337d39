"""The private Django internals the proxy's hot path is built on.

proxy/asgi.py ProxyASGIHandler is a fork of django.core.handlers.asgi.ASGIHandler: it
replaces `__call__`, `handle`, `load_middleware` and `read_body` (as `read_body_capped`)
and calls the rest (`create_request`, `run_get_response`, `send_response`,
`listen_for_disconnect`, BaseHandler's `_get_response_async`). proxy/views.py appends to
`StreamingHttpResponse._resource_closers`; usage/views.py tests for ASGIRequest. These
tests fail when a Django upgrade changes any of that, and say where to look.
"""

import asyncio
import hashlib
import inspect
import io
import json
import textwrap
import uuid

import django
import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.handlers import asgi as django_asgi
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import StreamingHttpResponse

from proxy.asgi import ProxyASGIHandler
from proxy.models import ProxyEndpoint

FORKED_FROM = "6.1.3"

# sha256 of the dedented source of each Django method ProxyASGIHandler replaces, as of
# the Django version it was forked from.
FORKED_SOURCES = {
    "ASGIHandler.__call__": "fd60e60793c4542e3d873426cda2ee7c161b276eb0674cf21620a4c44b279210",
    "ASGIHandler.handle": "4a7f40feb237c19bb29e61019aadfdbd0cd29bb93c30c6945da87bbc11a75461",
    "ASGIHandler.read_body": "f1dec0f8db0bdc886adf1cf69502308cc0652d9dd055c5bb98657a79e2950f0c",
    "BaseHandler.load_middleware": "2f5f60d77cf67af3229d672fa87d46479b17bb4094bd427a4261026cbfcd18ab",
}

CALLED = {
    # name: (owner, parameters, is a coroutine function)
    "create_request": (ASGIHandler, ["self", "scope", "body_file"], False),
    "run_get_response": (ASGIHandler, ["self", "request"], True),
    "send_response": (ASGIHandler, ["self", "response", "send"], True),
    "listen_for_disconnect": (ASGIHandler, ["self", "receive"], True),
    "_get_response_async": (BaseHandler, ["self", "request"], True),
    "get_response_async": (BaseHandler, ["self", "request"], True),
    "load_middleware": (BaseHandler, ["self", "is_async"], False),
}


@pytest.mark.parametrize("qualname", sorted(FORKED_SOURCES))
def test_the_django_methods_the_lean_handler_forks_are_unchanged(qualname):
    """Each method ProxyASGIHandler replaces is still the code it was forked from."""
    owner_name, method_name = qualname.split(".")
    owner = {"ASGIHandler": ASGIHandler, "BaseHandler": BaseHandler}[owner_name]
    source = textwrap.dedent(inspect.getsource(getattr(owner, method_name)))

    assert hashlib.sha256(source.encode()).hexdigest() == FORKED_SOURCES[qualname], (
        f"Django {django.get_version()} changed {qualname}, which proxy/asgi.py "
        f"ProxyASGIHandler forked from Django {FORKED_FROM}: diff it against that version, "
        "port what applies to the fork, then update FORKED_SOURCES"
    )


@pytest.mark.parametrize("name", sorted(CALLED))
def test_the_django_handler_methods_the_lean_handler_calls_keep_their_signatures(name):
    """The methods ProxyASGIHandler calls, or that its middleware-less chain wraps, take
    the same parameters and are still async (or sync) as proxy/asgi.py assumes."""
    owner, parameters, is_async = CALLED[name]
    method = getattr(owner, name, None)

    assert method is not None, (
        f"Django removed {owner.__name__}.{name}, used by proxy/asgi.py ProxyASGIHandler"
    )
    assert list(inspect.signature(method).parameters) == parameters, (
        f"Django changed the signature of {owner.__name__}.{name} to {inspect.signature(method)}; "
        "proxy/asgi.py ProxyASGIHandler calls it with "
        f"({', '.join(parameters[1:])})"
    )
    assert inspect.iscoroutinefunction(method) is is_async, (
        f"Django made {owner.__name__}.{name} {'sync' if is_async else 'async'}; proxy/asgi.py "
        + ("ProxyASGIHandler awaits it" if is_async else "calls it without await")
    )


def test_the_helpers_the_lean_handler_imports_keep_their_signatures():
    """get_script_prefix(scope) and convert_exception_to_response(get_response), which
    proxy/asgi.py imports from Django's handler modules, still exist as called."""
    prefix = getattr(django_asgi, "get_script_prefix", None)
    assert prefix is not None, (
        "django.core.handlers.asgi.get_script_prefix is gone; ProxyASGIHandler.handle "
        "(proxy/asgi.py) sets the script prefix with it"
    )
    assert list(inspect.signature(prefix).parameters) == ["scope"], (
        "django.core.handlers.asgi.get_script_prefix no longer takes (scope); proxy/asgi.py calls it so"
    )
    assert prefix({"root_path": "/base"}) == "/base", (
        "get_script_prefix no longer reads scope['root_path']; ProxyASGIHandler.handle relies on it"
    )
    assert list(inspect.signature(convert_exception_to_response).parameters) == ["get_response"], (
        "django.core.handlers.exception.convert_exception_to_response changed its parameters; "
        "ProxyASGIHandler.load_middleware (proxy/asgi.py) wraps _get_response_async with it"
    )


def test_the_lean_handler_sets_every_attribute_djangos_load_middleware_sets():
    """ProxyASGIHandler.load_middleware replaces Django's without its middleware; it must
    still set every attribute BaseHandler's request path reads."""
    stock = set(vars(ASGIHandler()))
    lean = ProxyASGIHandler()

    missing = stock - set(vars(lean))
    assert not missing, (
        f"Django's BaseHandler.load_middleware now sets {sorted(missing)}; "
        "proxy/asgi.py ProxyASGIHandler.load_middleware must set them too"
    )
    chains = (lean._view_middleware, lean._template_response_middleware, lean._exception_middleware)
    assert chains == ([], [], []), "ProxyASGIHandler (proxy/asgi.py) must run no middleware"
    assert inspect.iscoroutinefunction(lean._middleware_chain), (
        "convert_exception_to_response no longer returns a coroutine function for an async "
        "get_response; ProxyASGIHandler.run_get_response awaits _middleware_chain"
    )


def test_an_asgi_request_reads_its_body_from_the_bytes_io_the_lean_handler_passes():
    """create_request(scope, BytesIO) gives an ASGIRequest whose body, path, method and
    scope are those of the exchange: ProxyASGIHandler reads the body itself into a
    BytesIO (not Django's SpooledTemporaryFile) and proxy/views.py reads request.scope."""
    body = b'{"model": "claude-sonnet-4-6", "max_tokens": 1}'
    length = (b"content-length", str(len(body)).encode())
    scope = http_scope("POST", "/proxy/acme/v1/messages", headers=[length])

    request, error = ProxyASGIHandler().create_request(scope, io.BytesIO(body))

    assert error is None, f"ASGIHandler.create_request refused the request: {error}"
    assert isinstance(request, ASGIRequest), (
        "ASGIHandler.request_class is no longer django.core.handlers.asgi.ASGIRequest; "
        "usage/views.py tests isinstance(request, ASGIRequest)"
    )
    assert request.body == body, (
        "ASGIRequest no longer reads its body from the file create_request is given"
    )
    assert (request.method, request.path) == ("POST", "/proxy/acme/v1/messages")
    assert request.scope is scope, (
        "ASGIRequest.scope is gone; proxy/views.py proxy() reads request.scope"
    )


def test_closers_appended_to_a_streaming_response_run_when_it_closes_unstarted():
    """A closer appended to StreamingHttpResponse._resource_closers runs once on close(),
    even if the stream never started: proxy/views.py _stream and _pass_through log the
    exchange and free the upstream connection this way when the client leaves early."""
    closed = []

    async def relay():
        yield b"data: {}\n\n"

    response = StreamingHttpResponse(relay(), content_type="text/event-stream")
    closers = getattr(response, "_resource_closers", None)
    assert isinstance(closers, list), (
        "HttpResponseBase._resource_closers is gone or no longer a list; "
        "proxy/views.py _stream and _pass_through append to it"
    )
    closers.append(lambda: closed.append("closed"))

    response.close()

    assert closed == ["closed"], (
        "HttpResponseBase.close() no longer runs _resource_closers; proxy/views.py relies on it "
        "to log an exchange whose stream never started and ProxyASGIHandler.handle calls close()"
    )


# --- One exchange through the lean handler -------------------------------------------


def http_scope(method: str, path: str, headers=()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def exchange(method: str, path: str, chunks=(b"",)) -> tuple[int, dict, bytes]:
    """Run one request through ProxyASGIHandler; status, headers and body it sent."""

    async def run():
        communicator = ApplicationCommunicator(ProxyASGIHandler(), http_scope(method, path))
        for index, chunk in enumerate(chunks):
            await communicator.send_input(
                {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            )
        start = await communicator.receive_output(5)
        assert start["type"] == "http.response.start", f"first message is {start['type']}"
        body = b""
        while True:
            message = await communicator.receive_output(5)
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await communicator.wait(5)
        return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body

    return asyncio.run(run())


@pytest.fixture
def live_slug(transactional_db, org):
    """A live endpoint's slug, fresh per test (endpoint lookups are cached by slug)."""
    slug = f"seams-{uuid.uuid4().hex[:12]}"
    ProxyEndpoint.objects.create(organization=org, name="Seams", slug=slug)
    return slug


def test_the_lean_handler_answers_a_live_endpoints_root(live_slug):
    """GET /proxy/<slug>/ goes through routing, the async view and send_response: 200
    with proxy_root's JSON body."""
    status, headers, body = exchange("GET", f"/proxy/{live_slug}/")

    assert (status, body) == (200, b'{"ok": true}'), (
        "ProxyASGIHandler (proxy/asgi.py) no longer routes, runs the view or sends the "
        "response through Django's handler methods as it did"
    )
    assert headers["content-type"] == "application/json"


def test_the_lean_handler_answers_an_unknown_endpoint_in_anthropics_shape(transactional_db):
    """An unknown slug is proxy_root's 404 in Anthropic's error shape, not Django's page."""
    slug = f"missing-{uuid.uuid4().hex[:12]}"

    status, headers, body = exchange("GET", f"/proxy/{slug}/")

    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "type": "error",
        "error": {"type": "not_found_error", "message": f"No proxy endpoint named '{slug}'."},
    }


def test_the_lean_handler_reads_a_chunked_body_before_answering(transactional_db):
    """A body sent in several http.request messages is read to its end (read_body_capped,
    then create_request) before the view answers: POST to a root is proxy_root's 404."""
    status, _, body = exchange("POST", "/proxy/acme", chunks=(b'{"a": ', b"1}", b""))

    assert status == 404
    assert json.loads(body)["error"]["message"] == "Unknown path: /proxy/acme"
