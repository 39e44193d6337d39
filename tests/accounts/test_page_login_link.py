"""The one-time sign-in link: /login/link/<token>."""

from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone

from accounts.models import LoginLink
from accounts.selectors import api_key_hash
from accounts.services import login_link_create

pytestmark = pytest.mark.django_db


def test_login_link_create_returns_a_path_whose_token_is_stored_only_as_a_hash(owner):
    path = login_link_create(user=owner)

    assert path.startswith("/login/link/")
    token = path.removeprefix("/login/link/")
    assert len(token) >= 40
    link = LoginLink.objects.get(user=owner)
    assert link.token_hash == api_key_hash(token)
    assert token not in link.token_hash
    assert link.used_at is None
    assert timedelta(minutes=14) < link.expires_at - timezone.now() <= timedelta(minutes=15)


def test_the_link_signs_the_user_in_and_redirects_to_the_dashboard(owner):
    client = Client()

    response = client.get(login_link_create(user=owner))

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[SESSION_KEY] == str(owner.pk)
    assert client.get("/").status_code == 200
    assert LoginLink.objects.get(user=owner).used_at is not None


def test_the_link_works_only_once(owner):
    path = login_link_create(user=owner)
    Client().get(path)
    second = Client()

    response = second.get(path)

    assert response.status_code == 410
    assert "already used or has expired" in response.content.decode()
    assert SESSION_KEY not in second.session


def test_an_expired_link_is_refused_with_410(owner):
    path = login_link_create(user=owner)
    LoginLink.objects.filter(user=owner).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = Client()

    response = client.get(path)

    assert response.status_code == 410
    assert SESSION_KEY not in client.session


def test_an_unknown_token_is_refused_with_410(db):
    response = Client().get("/login/link/not-a-token-anyone-was-given")

    assert response.status_code == 410


def test_a_link_for_a_deactivated_user_does_not_sign_in(owner):
    path = login_link_create(user=owner)
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    client = Client()

    response = client.get(path)

    assert response.status_code == 410
    assert SESSION_KEY not in client.session


def test_the_link_is_not_accepted_by_post(owner):
    path = login_link_create(user=owner)

    response = Client().post(path)

    assert response.status_code == 405
    assert LoginLink.objects.get(user=owner).used_at is None


def test_link_visits_are_throttled_per_client_ip_even_with_a_valid_link(
    owner, settings, one_rate_limit_window
):
    settings.THROTTLE_LINKS_PER_IP_PER_MINUTE = 3
    guesses = [Client().get(f"/login/link/guess-{n}").status_code for n in range(3)]
    client = Client()

    response = client.get(login_link_create(user=owner))

    assert guesses == [410, 410, 410]
    assert response.status_code == 429
    assert "Too many attempts; try again in a minute." in response.content.decode()
    assert SESSION_KEY not in client.session
    assert LoginLink.objects.get(user=owner).used_at is None
    assert Client(REMOTE_ADDR="203.0.113.5").get(login_link_create(user=owner)).status_code == 302
