"""codecosts.middleware and the security settings: Secure cookies and HSTS on requests
that came over TLS, a Content-Security-Policy on pages, 413 for bodies over the limit."""

import ast
import logging
import os
import subprocess
import sys

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.live_fixtures import start_stack

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
HSTS = "max-age=31536000"


@pytest.fixture
def behind_tls(settings):
    """What TRUST_X_FORWARDED_PROTO=1 sets (tested against a server below)."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000


@pytest.fixture
def ada(db):
    return get_user_model().objects.create_user(username="ada", password=PASSWORD)


def _log_in(client: Client, **headers):
    return client.post("/login", {"username": "ada", "password": PASSWORD}, headers=headers)


def test_over_tls_the_session_and_csrf_cookies_are_secure_and_hsts_is_sent(ada, behind_tls):
    client = Client()

    page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    logged_in = _log_in(client, **{"X-Forwarded-Proto": "https"})

    assert page.cookies["csrftoken"]["secure"] is True
    assert page["Strict-Transport-Security"] == HSTS
    assert logged_in.status_code == 302
    assert logged_in.cookies["sessionid"]["secure"] is True
    assert logged_in.cookies["sessionid"]["httponly"] is True
    assert logged_in["Strict-Transport-Security"] == HSTS


def test_over_plain_http_cookies_are_not_secure_and_there_is_no_hsts(ada, behind_tls):
    client = Client()

    page = client.get("/login")
    logged_in = _log_in(client, **{"X-Forwarded-Proto": "http"})

    assert page.cookies["csrftoken"]["secure"] == ""
    assert "Strict-Transport-Security" not in page
    assert logged_in.cookies["sessionid"]["secure"] == ""
    assert "Strict-Transport-Security" not in logged_in


def test_without_the_setting_a_forwarded_proto_header_is_not_believed(ada, settings):
    settings.SECURE_HSTS_SECONDS = 31536000

    page = Client().get("/login", headers={"X-Forwarded-Proto": "https"})

    assert page.cookies["csrftoken"]["secure"] == ""
    assert "Strict-Transport-Security" not in page


def _settings_with(**environ) -> list:
    script = (
        "import codecosts.settings as s; "
        "print(repr((getattr(s, 'SECURE_PROXY_SSL_HEADER', None), s.SECURE_HSTS_SECONDS)))"
    )
    inherited = {"TRUST_X_FORWARDED_PROTO", "SECURE_HSTS_SECONDS"}
    env = {k: v for k, v in os.environ.items() if k not in inherited} | environ
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return ast.literal_eval(out.stdout.strip())


def test_trust_x_forwarded_proto_turns_on_the_proxy_header_and_a_year_of_hsts():
    assert _settings_with(TRUST_X_FORWARDED_PROTO="1") == (
        ("HTTP_X_FORWARDED_PROTO", "https"),
        31536000,
    )
    assert _settings_with() == (None, 0)
    assert _settings_with(TRUST_X_FORWARDED_PROTO="1", SECURE_HSTS_SECONDS="300")[1] == 300


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_server_behind_tls_marks_cookies_secure_per_request(tmp_path_factory, fake_upstream):
    get_user_model().objects.create_user(username="tls-ada", password=PASSWORD)
    stack = start_stack(tmp_path_factory, fake_upstream, "tls", TRUST_X_FORWARDED_PROTO=1)
    try:
        with httpx.Client(base_url=stack.url, timeout=10) as tls, httpx.Client(
            base_url=stack.url, timeout=10
        ) as plain:
            over_tls = tls.get("/login", headers={"X-Forwarded-Proto": "https"})
            over_http = plain.get("/login")
            api_over_tls = tls.get("/health", headers={"X-Forwarded-Proto": "https"})
    finally:
        stack.server.stop()
        if stack.worker:
            stack.worker.stop()

    assert "secure" in over_tls.headers["set-cookie"].lower().split("; ")
    assert over_tls.headers["strict-transport-security"] == HSTS
    assert "secure" not in over_http.headers["set-cookie"].lower().split("; ")
    assert "strict-transport-security" not in over_http.headers
    assert api_over_tls.headers["strict-transport-security"] == HSTS


# --- Content-Security-Policy ---------------------------------------------------------

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@pytest.mark.parametrize("path", ["/login", "/signup", "/admin/login/", "/no-such-page"])
def test_pages_carry_the_content_security_policy(path):
    response = Client().get(path)

    assert response["Content-Security-Policy"] == CSP


def test_pages_have_no_inline_script_or_style(owner):
    client = Client()
    client.force_login(owner)

    for path in ("/", "/logs", "/sessions", "/settings", "/members", "/login"):
        html = client.get(path).content.decode()
        assert " style=" not in html, path
        assert "<style" not in html, path
        assert "<script>" not in html and "<script " not in html.replace(
            '<script src="/static/js/codecosts.js" defer>', ""
        ), path


# --- Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE on pages -------------------------------


def test_a_form_body_over_the_limit_is_a_413_page_without_a_traceback(db, settings, caplog):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    with caplog.at_level(logging.DEBUG):
        response = Client().post("/login", {"username": "ada", "password": "x" * 5000})

    assert response.status_code == 413
    html = response.content.decode()
    assert "Request too large" in html
    assert "larger than the 1,000 bytes accepted" in html
    assert all(record.exc_info is None for record in caplog.records)
    assert "Traceback" not in caplog.text


def test_a_page_request_django_refuses_gets_a_clean_400(db, settings, caplog):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5

    with caplog.at_level(logging.DEBUG):
        response = Client().post("/login", {f"f{n}": "x" for n in range(20)})

    assert response.status_code == 400
    assert b"Traceback" not in response.content
