"""Bearer API keys and browser sessions on the REST API (accounts.authentication)."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from accounts.authentication import ApiKeyAuthentication, ApiKeyPrincipal
from accounts.models import ApiKey
from accounts.scoping import SESSION_ORGANIZATION_KEY
from accounts.selectors import api_key_get_by_raw_key
from accounts.services import api_key_create, api_key_revoke, membership_create
from proxy.services import proxy_endpoint_create

URL = "/api/proxy-endpoints"


def _request(authorization: str | None = None):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    return APIRequestFactory().get(URL, **headers)


def test_a_valid_key_authenticates_as_its_organization(org, owner_key):
    user, auth = ApiKeyAuthentication().authenticate(_request(f"Bearer {owner_key}"))

    assert isinstance(user, ApiKeyPrincipal)
    assert user.is_authenticated is True
    assert user.is_anonymous is False
    assert user.organization == org
    assert isinstance(auth, ApiKey)
    assert auth.organization == org
    assert str(user) == f"api-key:{owner_key[:12]}"


def test_the_scheme_is_case_insensitive(org, owner_key):
    user, _ = ApiKeyAuthentication().authenticate(_request(f"bearer {owner_key}"))

    assert user.organization == org


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_without_an_authorization_header_it_leaves_the_call_to_other_schemes(db, authorization):
    assert ApiKeyAuthentication().authenticate(_request(authorization)) is None


@pytest.mark.parametrize(
    "authorization, message",
    [
        ("Bearer", "Invalid Authorization header: expected 'Bearer <api key>'."),
        ("Bearer a b", "Invalid Authorization header: expected 'Bearer <api key>'."),
        ("Token cc_abc", "Invalid Authorization header: expected 'Bearer <api key>'."),
        ("Bearer sk-ant-api03-abc", "Invalid API key format: Codecosts API keys start with 'cc_'."),
        ("Bearer cc_" + "x" * 43, "Invalid API key."),
    ],
)
def test_it_rejects_a_malformed_or_unknown_key(db, authorization, message):
    with pytest.raises(AuthenticationFailed) as raised:
        ApiKeyAuthentication().authenticate(_request(authorization))

    assert str(raised.value.detail) == message


def test_it_rejects_a_revoked_key(owner_key):
    api_key_revoke(api_key=api_key_get_by_raw_key(raw_key=owner_key))

    with pytest.raises(AuthenticationFailed) as raised:
        ApiKeyAuthentication().authenticate(_request(f"Bearer {owner_key}"))

    assert str(raised.value.detail) == "This API key has been revoked."


def test_it_answers_401_with_a_json_body_and_a_challenge(anonymous_client):
    response = anonymous_client.get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {
        "error": {
            "type": "authentication_error",
            "message": "Authentication credentials were not provided.",
            "code": "not_authenticated",
        }
    }


def test_it_answers_401_for_a_revoked_key_over_http(api_client, owner_key):
    api_key_revoke(api_key=api_key_get_by_raw_key(raw_key=owner_key))

    response = api_client.get(URL)

    assert response.status_code == 401
    assert response.json()["error"] == {
        "type": "authentication_error",
        "message": "This API key has been revoked.",
        "code": "authentication_failed",
    }


def test_a_key_of_one_organization_never_sees_another(api_client, outsider_client, org, other_org):
    proxy_endpoint_create(organization=org, name="acme", slug="acme")
    proxy_endpoint_create(organization=other_org, name="globex", slug="globex")

    assert [e["slug"] for e in api_client.get(URL).json()["items"]] == ["acme"]
    assert [e["slug"] for e in outsider_client.get(URL).json()["items"]] == ["globex"]


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _last_used(raw_key):
    return ApiKey.objects.get(pk=api_key_get_by_raw_key(raw_key=raw_key).pk).last_used_at


def test_last_used_at_is_written_once_and_not_again_within_the_hour(api_client, owner_key):
    assert _last_used(owner_key) is None

    with mock.patch("django.utils.timezone.now", return_value=T0):
        assert api_client.get(URL).status_code == 200
    assert _last_used(owner_key) == T0

    with mock.patch("django.utils.timezone.now", return_value=T0 + timedelta(minutes=30)):
        assert api_client.get(URL).status_code == 200
        assert api_client.get(URL).status_code == 200
    assert _last_used(owner_key) == T0

    with mock.patch("django.utils.timezone.now", return_value=T0 + timedelta(hours=2)):
        assert api_client.get(URL).status_code == 200
    assert _last_used(owner_key) == T0 + timedelta(hours=2)


def test_a_request_within_the_hour_does_not_write_at_all(
    api_client, owner_key, django_assert_num_queries
):
    with mock.patch("django.utils.timezone.now", return_value=T0):
        api_client.get(URL)

    with mock.patch("django.utils.timezone.now", return_value=T0 + timedelta(minutes=5)):
        # The key lookup and the page of endpoints; no UPDATE of the key.
        with django_assert_num_queries(2) as queries:
            api_client.get(URL)
    assert not any(q["sql"].startswith("UPDATE") for q in queries.captured_queries)


def test_using_a_key_leaves_no_trace_of_it_in_the_database(api_client, owner_key):
    from tests.accounts.test_api_keys import _database_dump

    api_client.post(URL, {"name": "traced"})
    api_client.get(URL)

    dump = _database_dump()
    assert "traced" in dump
    assert owner_key not in dump
    assert owner_key[12:] not in dump


# --- browser sessions -----------------------------------------------------------------


def test_a_logged_in_user_uses_the_api_as_their_organization(owner_session_client, org):
    proxy_endpoint_create(organization=org, name="acme", slug="acme")

    response = owner_session_client.post(URL, {"name": "from the browser"})

    assert response.status_code == 201
    assert [e["slug"] for e in owner_session_client.get(URL).json()["items"]] == [
        "acme",
        "from-the-browser",
    ]


def test_a_member_sees_their_organization_too(member, org, anonymous_client):
    proxy_endpoint_create(organization=org, name="acme", slug="acme")
    anonymous_client.force_login(member)

    assert [e["slug"] for e in anonymous_client.get(URL).json()["items"]] == ["acme"]


def test_the_session_chooses_among_the_users_organizations(owner_session_client, owner, other_org):
    membership_create(organization=other_org, user=owner)
    proxy_endpoint_create(organization=other_org, name="globex", slug="globex")
    session = owner_session_client.session
    session[SESSION_ORGANIZATION_KEY] = str(other_org.id)
    session.save()

    assert [e["slug"] for e in owner_session_client.get(URL).json()["items"]] == ["globex"]


def test_a_session_naming_a_foreign_organization_falls_back_to_the_users_own(
    owner_session_client, org, other_org
):
    proxy_endpoint_create(organization=org, name="acme", slug="acme")
    proxy_endpoint_create(organization=other_org, name="globex", slug="globex")
    session = owner_session_client.session
    session[SESSION_ORGANIZATION_KEY] = str(other_org.id)
    session.save()

    assert [e["slug"] for e in owner_session_client.get(URL).json()["items"]] == ["acme"]


def test_a_logged_in_user_without_organization_gets_403(anonymous_client, django_user_model):
    anonymous_client.force_login(django_user_model.objects.create_user(username="loner"))

    response = anonymous_client.get(URL)

    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"
    assert response.json()["error"]["message"] == "You are not a member of any organization."


def test_session_writes_need_a_csrf_token(owner, db):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post(URL, {"name": "forged"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_a_key_wins_over_a_session(owner_session_client, outsider_key, other_org):
    """An explicit bearer key is what the caller asked for, even from a logged-in browser."""
    proxy_endpoint_create(organization=other_org, name="globex", slug="globex")
    owner_session_client.credentials(HTTP_AUTHORIZATION=f"Bearer {outsider_key}")

    assert [e["slug"] for e in owner_session_client.get(URL).json()["items"]] == ["globex"]


def test_a_bad_key_fails_even_with_a_valid_session(owner_session_client):
    owner_session_client.credentials(HTTP_AUTHORIZATION="Bearer cc_" + "z" * 43)

    assert owner_session_client.get(URL).status_code == 401


def test_api_key_create_records_who_made_it(org, owner):
    api_key, raw_key = api_key_create(organization=org, name="  laptop  ", created_by=owner)

    assert ApiKey.objects.get(pk=api_key.pk).name == "laptop"
    assert api_key_get_by_raw_key(raw_key=raw_key).created_by == owner
