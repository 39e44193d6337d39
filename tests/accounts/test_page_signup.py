"""Sign-up: /signup."""

import re

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client

from accounts.models import Membership

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "ada",
    "email": "ada@example.com",
    "password": "correct horse battery staple",
    "organization_name": "",
}


def test_the_signup_page_has_a_form(db):
    response = Client().get("/signup")

    html = response.content.decode()
    assert response.status_code == 200
    for name in ("username", "email", "password", "organization_name", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in html


def test_signing_up_creates_the_user_and_their_organization_and_signs_them_in(db):
    client = Client()

    response = client.post("/signup", GOOD)

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = get_user_model().objects.get(username="ada")
    assert user.email == "ada@example.com"
    assert user.check_password("correct horse battery staple")
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.organization.name == "ada's organization"
    assert client.session[SESSION_KEY] == str(user.pk)
    # A new organization lands on the setup walkthrough.
    assert "Create a proxy endpoint" in client.get("/").content.decode()


def test_the_organization_can_be_named(db):
    Client().post("/signup", {**GOOD, "organization_name": "Analytical Engines"})

    assert Membership.objects.get(user__username="ada").organization.name == "Analytical Engines"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "short"}, "This password is too short."),
        ({"password": "12345678901"}, "This password is entirely numeric."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"username": "ada lovelace"}, "Enter a valid username."),
        ({"username": ""}, "This field is required."),
    ],
)
def test_invalid_input_is_shown_and_nothing_is_created(db, change, message):
    response = Client().post("/signup", {**GOOD, **change})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not get_user_model().objects.exists()


def test_a_taken_username_is_refused_whatever_its_case(owner):
    response = Client().post("/signup", {**GOOD, "username": "OWNER"})

    assert response.status_code == 400
    assert "A user with that username already exists." in response.content.decode()


def test_signup_needs_the_csrf_token(db):
    client = Client(enforce_csrf_checks=True)

    assert client.post("/signup", GOOD).status_code == 403
    assert not get_user_model().objects.exists()

    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/signup").content.decode()
    )
    assert (
        client.post("/signup", {**GOOD, "csrfmiddlewaretoken": token.group(1)}).status_code == 302
    )


def test_a_signed_in_user_is_sent_to_the_dashboard(owner):
    client = Client()
    client.force_login(owner)

    response = client.get("/signup")

    assert response.status_code == 302
    assert response["Location"] == "/"


# --- Throttle -----------------------------------------------------------------------


def test_sign_ups_are_throttled_per_client_ip_without_checking_the_form(
    db, settings, one_rate_limit_window
):
    settings.THROTTLE_SIGNUP_PER_IP_PER_MINUTE = 2
    get_user_model().objects.create_user(username="taken")
    attempts = [
        Client().post("/signup", {**GOOD, "username": name, "email": f"{name}@example.com"})
        for name in ("taken", "grace")
    ]

    throttled = Client().post("/signup", {**GOOD, "username": "taken"})
    elsewhere = Client(REMOTE_ADDR="203.0.113.5").post("/signup", GOOD)

    assert [r.status_code for r in attempts] == [400, 302]
    assert throttled.status_code == 429
    html = throttled.content.decode()
    assert '<ul class="errorlist"><li>Too many attempts; try again in a minute.</li></ul>' in html
    # Nothing was validated: a throttled request cannot ask whether a username is taken.
    assert "already exists" not in html
    assert elsewhere.status_code == 302
    assert set(get_user_model().objects.values_list("username", flat=True)) == {
        "taken",
        "grace",
        "ada",
    }
