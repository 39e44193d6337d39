"""The lean handler of proxy paths (proxy/asgi.py ProxyASGIHandler), driven in process:
routing on Django's URL patterns, the answers it sends, and what it does when there is
no view or the view fails. It uses no private Django internals; test_view_outcomes.py
drives every way a forwarded exchange ends.
"""

import json
import uuid

import pytest
from django.test import override_settings
from django.urls import re_path

from proxy.models import ProxyEndpoint
from tests.asgi import proxy_exchange


async def _crashing_view(request, **kwargs):
    raise RuntimeError("a bug in a view")


async def _echo_view(request, **kwargs):
    from proxy.responses import ProxyResponse

    seen = {"method": request.method, "path": request.path, "body": request.read().decode(),
            "scope_path": request.scope["path"], "kwargs": kwargs}
    return ProxyResponse(200, {"content-type": "application/json"}, body=json.dumps(seen).encode())


# A URL conf of this module's own (override_settings(ROOT_URLCONF=__name__)).
urlpatterns = [
    re_path(r"^proxy/crash/(?P<rest>v1/.*)$", _crashing_view),
    re_path(r"^proxy/echo/(?P<rest>v1/.*)$", _echo_view),
]


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
    return proxy_exchange(http_scope(method, path), chunks, timeout=5)


@pytest.fixture
def live_slug(transactional_db, org):
    """A live endpoint's slug, fresh per test (endpoint lookups are cached by slug)."""
    slug = f"seams-{uuid.uuid4().hex[:12]}"
    ProxyEndpoint.objects.create(organization=org, name="Seams", slug=slug)
    return slug


def test_the_lean_handler_answers_a_live_endpoints_root(live_slug):
    """GET /proxy/<slug>/ goes through routing, the async view and send_response: 200
    with proxy_root's JSON body (an HttpResponse, sent as Django sends it)."""
    status, headers, body = exchange("GET", f"/proxy/{live_slug}/")

    assert (status, body) == (200, b'{"ok": true}')
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
    """A body sent in several http.request messages is read to its end (read_body_capped)
    before the view answers: POST to a root is proxy_root's 404."""
    status, _, body = exchange("POST", "/proxy/acme", chunks=(b'{"a": ', b"1}", b""))

    assert status == 404
    assert json.loads(body)["error"]["message"] == "Unknown path: /proxy/acme"


@override_settings(ROOT_URLCONF=__name__)
def test_the_view_gets_the_canonical_path_the_method_the_body_and_its_url_arguments():
    status, headers, body = exchange("POST", "/proxy/echo/v1/messages/", chunks=(b'{"a": 1}',))

    assert (status, headers["content-type"]) == (200, "application/json")
    assert json.loads(body) == {
        "method": "POST", "path": "/proxy/echo/v1/messages", "body": '{"a": 1}',
        "scope_path": "/proxy/echo/v1/messages", "kwargs": {"rest": "v1/messages"},
    }


@override_settings(ROOT_URLCONF=__name__)
def test_a_view_that_fails_is_the_providers_500_and_is_logged(caplog):
    status, headers, body = exchange("POST", "/proxy/crash/v1/messages")

    assert (status, headers["content-type"]) == (500, "application/json")
    assert json.loads(body) == {
        "type": "error",
        "error": {"type": "api_error", "message": "Codecosts failed to handle this request."},
    }
    (logged,) = [r for r in caplog.records if r.name == "codecosts.proxy"]
    assert logged.exc_info[0] is RuntimeError


@override_settings(ROOT_URLCONF=__name__)
def test_a_path_no_pattern_matches_is_the_providers_404():
    status, _, body = exchange("POST", "/proxy/elsewhere/openai/v1/chat/completions")

    assert status == 404
    assert json.loads(body)["error"]["message"] == "Unknown path: /proxy/elsewhere/openai/v1/chat/completions"
