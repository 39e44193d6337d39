"""POST /api/local/login-link: `codecosts open`'s fresh dashboard link, local mode only."""

import pytest

from accounts.services import api_key_create, login_link_use
from proxy.services import local_setup

URL = "/api/local/login-link"


@pytest.fixture
def local_key(settings, db) -> str:
    settings.LOCAL_MODE = True
    endpoint = local_setup()
    _, raw_key = api_key_create(organization=endpoint.organization, name="cli")
    return raw_key


def post(client, key: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.post(URL, **headers)


def test_the_local_organizations_key_gets_a_one_time_link_for_the_local_user(client, local_key):
    response = post(client, local_key)

    assert response.status_code == 201
    body = response.json()
    assert body["valid_minutes"] == 15
    token = body["url"].removeprefix("/login/link/")
    assert body["url"] == f"/login/link/{token}"
    assert login_link_use(token=token).username == "local"
    assert login_link_use(token=token) is None


def test_another_organizations_key_is_refused(client, local_key, outsider_key):
    response = post(client, outsider_key)

    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Only an API key of the local organization (var/cli-key) can open the dashboard."
    )


def test_it_needs_a_key(client, local_key):
    assert post(client).status_code == 401
    assert post(client, "cc_" + "x" * 43).status_code == 401


def test_outside_local_mode_there_is_no_such_route(client, local_key, settings):
    settings.LOCAL_MODE = False

    response = post(client, local_key)

    assert response.status_code == 404
