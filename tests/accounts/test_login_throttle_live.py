"""The login throttle against the running product (uvicorn, as deployed): the attack of
issue 8, 40 wrong passwords then the right one, no longer signs in."""

import re
import uuid

import httpx
import pytest
from django.contrib.auth import get_user_model

from tests.live import wait_clear_of_window_end

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
THROTTLED = "Too many attempts; try again in a minute."


def _csrf_token(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def _attacker(stack, address: str) -> httpx.Client:
    """A client from its own loopback address, so each test has an IP counter of its own."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=stack.url, timeout=10, transport=transport)


def test_forty_wrong_passwords_then_the_right_one_does_not_sign_in(live_stack):
    username = f"victim-{uuid.uuid4().hex[:8]}"
    get_user_model().objects.create_user(username=username, password=PASSWORD)
    wait_clear_of_window_end(username, "127.0.0.2")

    with _attacker(live_stack, "127.0.0.2") as attacker:
        token = _csrf_token(attacker, "/login")
        attempts = [
            attacker.post(
                "/login",
                data={"username": username, "password": f"guess-{n}", "csrfmiddlewaretoken": token},
            )
            for n in range(40)
        ]
        right = attacker.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        dashboard = attacker.get("/")

    assert [r.status_code for r in attempts] == [200] * 10 + [429] * 30, live_stack.process_logs()
    assert right.status_code == 429
    assert THROTTLED in right.text
    assert "sessionid" not in right.cookies
    assert dashboard.status_code == 302
    assert dashboard.headers["location"].startswith("/login")


def test_the_admin_login_shares_the_count(live_stack):
    username = f"staff-{uuid.uuid4().hex[:8]}"
    get_user_model().objects.create_superuser(username=username, email="", password=PASSWORD)
    wait_clear_of_window_end(username, "127.0.0.3")

    with _attacker(live_stack, "127.0.0.3") as attacker:
        token = _csrf_token(attacker, "/login")
        for n in range(10):
            page = attacker.post(
                "/login",
                data={"username": username, "password": f"guess-{n}", "csrfmiddlewaretoken": token},
            )
            assert page.status_code == 200
        admin_token = _csrf_token(attacker, "/admin/login/")
        admin = attacker.post(
            "/admin/login/?next=/admin/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": admin_token},
        )
        index = attacker.get("/admin/")

    assert admin.status_code == 429
    assert THROTTLED in admin.text
    assert index.status_code == 302
    assert index.headers["location"].startswith("/admin/login/")
