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
