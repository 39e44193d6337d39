"""Django admin's login (/admin/login/): the login page's throttle, the same counters."""

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
THROTTLED = "Too many attempts; try again in a minute."


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser(
        username="root", email="root@example.com", password=PASSWORD
    )


def test_the_admin_login_still_signs_staff_in(root):
    client = Client()

    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.session[SESSION_KEY] == str(root.pk)


def test_the_right_password_after_40_wrong_ones_does_not_open_the_admin(
    root, one_rate_limit_window
):
    client = Client()

    wrong = [
        client.post("/admin/login/", {"username": "root", "password": f"guess-{n}"})
        for n in range(40)
    ]
    right = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})

    assert [r.status_code for r in wrong] == [200] * 10 + [429] * 30
    assert right.status_code == 429
    html = right.content.decode()
    assert THROTTLED in html
    assert 'id="login-form"' in html
    assert SESSION_KEY not in client.session
    assert client.get("/admin/").status_code == 302


def test_attempts_on_the_login_page_count_for_the_admin_too(root, settings, one_rate_limit_window):
    settings.THROTTLE_LOGIN_PER_USERNAME_PER_MINUTE = 2
    for _ in range(2):
        assert Client().post("/login", {"username": "ROOT", "password": "x"}).status_code == 200

    response = Client().post("/admin/login/", {"username": "root", "password": PASSWORD})

    assert response.status_code == 429
