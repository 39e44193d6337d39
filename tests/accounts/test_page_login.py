"""Log in (/login) and log out (/logout, POST)."""

import re

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client

from accounts.services import organization_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ada(db):
    user = get_user_model().objects.create_user(
        username="ada", email="ada@example.com", password=PASSWORD
    )
    organization_create(name="Engines", owner=user)
    return user


def test_logging_in_goes_to_the_dashboard(ada):
    client = Client()

    response = client.post("/login", {"username": "ada", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[SESSION_KEY] == str(ada.pk)


def test_logging_in_follows_a_safe_next_and_ignores_another_host(ada):
    inside = Client().post(
        "/login?next=/logs", {"username": "ada", "password": PASSWORD, "next": "/logs"}
    )
    outside = Client().post(
        "/login", {"username": "ada", "password": PASSWORD, "next": "https://evil.example/"}
    )

    assert inside["Location"] == "/logs"
    assert outside["Location"] == "/"


def test_a_wrong_password_is_refused(ada):
    client = Client()

    response = client.post("/login", {"username": "ada", "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_logging_out_takes_a_post(ada):
    client = Client()
    client.force_login(ada)

    assert client.get("/logout").status_code == 405
    assert SESSION_KEY in client.session
    response = client.post("/logout")

    assert response.status_code == 302
    assert response["Location"] == "/login"
    assert SESSION_KEY not in client.session


def test_login_and_logout_need_the_csrf_token(ada):
    client = Client(enforce_csrf_checks=True)

    assert client.post("/login", {"username": "ada", "password": PASSWORD}).status_code == 403
    page = client.get("/login").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    logged_in = client.post(
        "/login", {"username": "ada", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert logged_in.status_code == 302

    assert client.post("/logout").status_code == 403
    assert SESSION_KEY in client.session


def test_the_layout_shows_navigation_and_a_logout_form(ada):
    client = Client()
    client.force_login(ada)

    html = client.get("/").content.decode()

    for link in ('href="/"', 'href="/logs"', 'href="/sessions"', 'href="/settings"'):
        assert link in html
    assert '<form method="post" action="/logout">' in html
    assert "/static/css/codecosts.css" in html


def test_the_stylesheet_is_served_without_a_cdn(db):
    response = Client().get("/static/css/codecosts.css")

    assert response.status_code == 200
    assert b"--accent" in b"".join(response.streaming_content)


# --- Throttle -----------------------------------------------------------------------

THROTTLED = "Too many attempts; try again in a minute."


def test_the_right_password_after_40_wrong_ones_does_not_log_in(ada, one_rate_limit_window):
    client = Client()

    wrong = [
        client.post("/login", {"username": "ada", "password": f"guess-{n}"}) for n in range(40)
    ]
    right = client.post("/login", {"username": "ada", "password": PASSWORD})

    # 10 a minute per username: the 11th attempt on, nothing is checked.
    assert [r.status_code for r in wrong] == [200] * 10 + [429] * 30
    assert right.status_code == 429
    assert SESSION_KEY not in client.session
    html = right.content.decode()
    assert f'<ul class="errorlist"><li>{THROTTLED}</li></ul>' in html
    assert "Please enter a correct username and password" not in html
    assert 'name="username"' in html


def test_the_username_count_ignores_case_and_unicode_spelling(ada, settings, one_rate_limit_window):
    settings.THROTTLE_LOGIN_PER_USERNAME_PER_MINUTE = 2
    spellings = ["ada", "ADA", "\uff41\uff44\uff41"]  # the last is fullwidth "ada" (NFKC)

    statuses = [
        Client().post("/login", {"username": name, "password": "x"}).status_code
        for name in spellings
    ]

    assert statuses == [200, 200, 429]


def test_one_client_ip_is_throttled_across_usernames(ada, settings, one_rate_limit_window):
    settings.THROTTLE_LOGIN_PER_IP_PER_MINUTE = 3
    elsewhere = Client(REMOTE_ADDR="203.0.113.9")

    statuses = [
        Client().post("/login", {"username": f"user{n}", "password": "x"}).status_code
        for n in range(4)
    ]
    other_ip = elsewhere.post("/login", {"username": "ada", "password": PASSWORD})

    assert statuses == [200, 200, 200, 429]
    assert other_ip.status_code == 302
    assert elsewhere.session[SESSION_KEY] == str(ada.pk)


def test_another_username_from_another_ip_still_logs_in_while_one_is_throttled(
    ada, settings, one_rate_limit_window
):
    settings.THROTTLE_LOGIN_PER_USERNAME_PER_MINUTE = 1
    get_user_model().objects.create_user(username="grace", password=PASSWORD)
    Client().post("/login", {"username": "ada", "password": "x"})

    throttled = Client().post("/login", {"username": "ada", "password": PASSWORD})
    grace = Client(REMOTE_ADDR="198.51.100.7").post(
        "/login", {"username": "grace", "password": PASSWORD}
    )

    assert throttled.status_code == 429
    assert grace.status_code == 302


def test_a_zero_limit_turns_the_throttle_off(ada, settings, one_rate_limit_window):
    settings.THROTTLE_LOGIN_PER_USERNAME_PER_MINUTE = 0
    settings.THROTTLE_LOGIN_PER_IP_PER_MINUTE = 0

    statuses = {
        Client().post("/login", {"username": "ada", "password": "x"}).status_code
        for _ in range(3)
    }

    assert statuses == {200}


def test_showing_the_login_page_is_not_counted(ada, settings, one_rate_limit_window):
    settings.THROTTLE_LOGIN_PER_IP_PER_MINUTE = 1
    for _ in range(3):
        assert Client().get("/login").status_code == 200

    assert Client().post("/login", {"username": "ada", "password": PASSWORD}).status_code == 302
