"""The Settings page: /settings, proxy endpoints and API keys."""

import re
from html import unescape

import pytest
from django.test import Client

from accounts.models import ApiKey
from accounts.selectors import api_key_get_by_raw_key
from accounts.services import api_key_create
from proxy.models import ProxyEndpoint
from proxy.services import proxy_endpoint_create

pytestmark = pytest.mark.django_db


def _client(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner):
    return _client(owner)


@pytest.fixture
def member_client(member):
    return _client(member)


@pytest.fixture
def foreign_endpoint(other_org):
    return proxy_endpoint_create(organization=other_org, name="Globex app", slug="globex-app")


def test_settings_requires_login(db):
    response = Client().get("/settings")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/settings"


def test_it_lists_endpoints_with_base_url_and_setup_for_every_client(member_client, org):
    proxy_endpoint_create(organization=org, name="Acme app", slug="acme-app", require_key=False)
    response = member_client.get("/settings")

    html = response.content.decode()
    text = unescape(html)
    assert response.status_code == 200
    assert '<code id="url-acme-app">http://testserver/proxy/acme-app</code>' in html
    assert 'data-copy-target="url-acme-app"' in html
    assert "export ANTHROPIC_BASE_URL=http://testserver/proxy/acme-app\nclaude" in text
    assert 'anthropic.Anthropic(base_url="http://testserver/proxy/acme-app")' in text
    assert 'new Anthropic({ baseURL: "http://testserver/proxy/acme-app" })' in text
    assert "curl http://testserver/proxy/acme-app/v1/messages \\\n" in text
    assert 'OpenAI(base_url="http://testserver/proxy/acme-app/openai/v1")' in text


def test_a_locked_endpoints_snippets_send_the_codecosts_key(member_client, endpoint):
    text = unescape(member_client.get("/settings").content.decode())

    assert "locked" in text
    assert (
        "export ANTHROPIC_BASE_URL=http://testserver/proxy/acme-app\n"
        'export ANTHROPIC_CUSTOM_HEADERS="x-codecosts-key: $CODECOSTS_KEY"\nclaude'
    ) in text
    assert 'default_headers={"x-codecosts-key": os.environ["CODECOSTS_KEY"]}' in text
    assert 'defaultHeaders: { "x-codecosts-key": process.env.CODECOSTS_KEY }' in text
    assert '-H "x-codecosts-key: $CODECOSTS_KEY"' in text
    # A member sees the lock but cannot change it.
    assert "/settings/endpoints/" + str(endpoint.id) + "/lock" not in text


def test_it_shows_how_each_client_sends_a_person_tags_and_properties(member_client, org):
    proxy_endpoint_create(organization=org, name="Acme app", slug="acme-app", require_key=False)
    text = unescape(member_client.get("/settings").content.decode())

    assert "Who and what spent it" in text
    assert (
        "export ANTHROPIC_BASE_URL=http://testserver/proxy/acme-app\n"
        '# Newline-separated "Name: Value" pairs, sent on every call\n'
        'export ANTHROPIC_CUSTOM_HEADERS="x-codecosts-user: $USER\n'
        "x-codecosts-tags: refactor,backend\n"
        'x-codecosts-property-repo: shop"\n'
    ) in text
    assert "export CLAUDE_CODE_GATEWAY_HINT_HEADERS=1\nclaude" in text
    assert '"x-codecosts-user": os.environ["USER"],' in text
    assert '"x-codecosts-user": process.env.USER,' in text
    assert '-H "x-codecosts-property-repo: shop"' in text
    assert 'base_url="http://testserver/proxy/acme-app/openai/v1",' in text


def test_for_a_locked_endpoint_the_key_names_the_person(member_client, endpoint):
    text = unescape(member_client.get("/settings").content.decode())
    assert 'export ANTHROPIC_CUSTOM_HEADERS="x-codecosts-key: $CODECOSTS_KEY\nx-codecosts-tags' in text
    assert '"x-codecosts-key": os.environ["CODECOSTS_KEY"],\n        "x-codecosts-tags"' in text
    assert "x-codecosts-user: $USER" not in text and 'os.environ["USER"]' not in text


def test_an_owner_unlocks_and_locks_an_endpoint(owner_client, endpoint):
    response = owner_client.post(f"/settings/endpoints/{endpoint.id}/lock", {"require_key": "0"})
    assert (response.status_code, response["Location"]) == (302, "/settings#endpoint-acme-app")
    endpoint.refresh_from_db()
    assert endpoint.require_key is False
    text = unescape(owner_client.get("/settings").content.decode())
    assert "is open: anyone with its URL can send calls through it" in text
    owner_client.post(f"/settings/endpoints/{endpoint.id}/lock", {"require_key": "1"})
    endpoint.refresh_from_db()
    assert endpoint.require_key is True


def test_a_member_cannot_unlock_an_endpoint(member_client, endpoint):
    response = member_client.post(f"/settings/endpoints/{endpoint.id}/lock", {"require_key": "0"})
    assert response.status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.require_key is True


def test_an_owner_creates_a_proxy_key(owner_client, org):
    response = owner_client.post("/settings/api-keys", {"name": "alice", "scope": "proxy"})
    assert response.status_code == 200
    raw = re.search(r'id="new-api-key-value">([^<]+)<', response.content.decode()).group(1)
    api_key = api_key_get_by_raw_key(raw_key=raw)
    assert (api_key.organization, api_key.name, api_key.scope) == (org, "alice", "proxy")
    assert "x-codecosts-key" in response.content.decode()


def test_an_unknown_key_scope_is_a_form_error(owner_client):
    response = owner_client.post("/settings/api-keys", {"name": "x", "scope": "root"})
    assert response.status_code == 400
    assert "scope must be one of full, proxy" in response.content.decode()
    assert not ApiKey.objects.filter(name="x").exists()


def test_the_base_url_uses_public_url_when_set(member_client, endpoint, settings):
    settings.PUBLIC_URL = "https://codecosts.example.com"

    html = member_client.get("/settings").content.decode()

    assert "export ANTHROPIC_BASE_URL=https://codecosts.example.com/proxy/acme-app" in html


def test_it_never_lists_another_organizations_endpoints_or_keys(
    owner_client, foreign_endpoint, other_org
):
    api_key_create(organization=other_org, name="globex deploy key")

    html = owner_client.get("/settings").content.decode()

    assert "globex-app" not in html
    assert "globex deploy key" not in html


# --- Endpoints ----------------------------------------------------------------------------


def test_a_member_creates_an_endpoint_with_a_slug_from_its_name(member_client, org):
    response = member_client.post("/settings/endpoints", {"name": "My Project", "slug": ""})

    assert response.status_code == 302
    assert response["Location"] == "/settings#endpoint-my-project"
    endpoint = ProxyEndpoint.objects.get(slug="my-project")
    assert (endpoint.organization, endpoint.name) == (org, "My Project")
    assert "Endpoint “My Project” created at /proxy/my-project." in (
        member_client.get("/settings").content.decode()
    )


def test_an_explicit_slug_is_used(owner_client):
    owner_client.post("/settings/endpoints", {"name": "Batch jobs", "slug": "batch-2026"})

    assert ProxyEndpoint.objects.filter(slug="batch-2026", name="Batch jobs").exists()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "   ", "slug": ""}, "name must not be blank"),
        (
            {"name": "x", "slug": "Bad Slug"},
            "slug may contain only lowercase letters (a-z), digits and hyphens",
        ),
        ({"name": "x", "slug": "-edge"}, "slug must start and end with a letter or digit"),
        ({"name": "x", "slug": "a" * 64}, "slug must be at most 63 characters"),
    ],
)
def test_invalid_input_shows_the_apis_messages(owner_client, form, message):
    response = owner_client.post("/settings/endpoints", form)

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'value="{form["name"]}"' in html  # the form keeps what was typed
    assert not ProxyEndpoint.objects.exists()


def test_a_taken_slug_is_refused_even_when_another_organization_has_it(
    owner_client, foreign_endpoint
):
    response = owner_client.post("/settings/endpoints", {"name": "Mine", "slug": "globex-app"})

    assert response.status_code == 400
    assert "slug already taken" in response.content.decode()
    assert ProxyEndpoint.objects.filter(slug="globex-app").count() == 1


def test_the_owner_deletes_an_endpoint(owner_client, endpoint):
    response = owner_client.post(f"/settings/endpoints/{endpoint.id}/delete")

    assert response.status_code == 302
    assert not ProxyEndpoint.objects.filter(id=endpoint.id).exists()


def test_a_member_cannot_delete_an_endpoint(member_client, endpoint):
    response = member_client.post(f"/settings/endpoints/{endpoint.id}/delete")

    assert response.status_code == 403
    assert ProxyEndpoint.objects.filter(id=endpoint.id).exists()
    assert "/delete" not in member_client.get("/settings").content.decode()


def test_deleting_another_organizations_endpoint_is_404(owner_client, foreign_endpoint):
    response = owner_client.post(f"/settings/endpoints/{foreign_endpoint.id}/delete")

    assert response.status_code == 404
    assert ProxyEndpoint.objects.filter(id=foreign_endpoint.id).exists()


def test_delete_refuses_get(owner_client, endpoint):
    response = owner_client.get(f"/settings/endpoints/{endpoint.id}/delete")

    assert response.status_code == 405
    assert ProxyEndpoint.objects.filter(id=endpoint.id).exists()


# --- API keys -----------------------------------------------------------------------------


def test_the_owner_creates_an_api_key_shown_once(owner_client, org, owner):
    response = owner_client.post("/settings/api-keys", {"name": "ci"})

    assert response.status_code == 200
    html = response.content.decode()
    raw_key = re.search(r'<code id="new-api-key-value">(cc_[A-Za-z0-9_-]+)</code>', html).group(1)
    api_key = api_key_get_by_raw_key(raw_key=raw_key)
    assert (api_key.organization, api_key.name, api_key.created_by) == (org, "ci", owner)
    assert "shown only once" in html
    # Never again: the list shows only the prefix.
    later = owner_client.get("/settings").content.decode()
    assert raw_key not in later
    assert f"{api_key.display_prefix}…" in later


def test_a_member_can_neither_create_nor_revoke_keys(member_client, org):
    api_key, _ = api_key_create(organization=org, name="deploy")

    created = member_client.post("/settings/api-keys", {"name": "mine"})
    revoked = member_client.post(f"/settings/api-keys/{api_key.id}/revoke")

    assert (created.status_code, revoked.status_code) == (403, 403)
    assert ApiKey.objects.filter(organization=org).count() == 1
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert "Create API key" not in member_client.get("/settings").content.decode()


def test_the_owner_revokes_a_key(owner_client, org):
    api_key, raw_key = api_key_create(organization=org, name="deploy")

    response = owner_client.post(f"/settings/api-keys/{api_key.id}/revoke")

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "revoked" in owner_client.get("/settings").content.decode()


def test_revoking_another_organizations_key_is_404(owner_client, other_org):
    api_key, _ = api_key_create(organization=other_org, name="globex")

    response = owner_client.post(f"/settings/api-keys/{api_key.id}/revoke")

    assert response.status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


# --- CSRF ---------------------------------------------------------------------------------


def test_every_settings_form_needs_the_csrf_token(owner, org, endpoint):
    api_key, _ = api_key_create(organization=org, name="deploy")
    client = _client(owner, enforce_csrf_checks=True)

    for path, data in [
        ("/settings/endpoints", {"name": "csrf"}),
        (f"/settings/endpoints/{endpoint.id}/delete", {}),
        ("/settings/api-keys", {"name": "csrf"}),
        (f"/settings/api-keys/{api_key.id}/revoke", {}),
    ]:
        assert client.post(path, data).status_code == 403, path
    assert ProxyEndpoint.objects.filter(id=endpoint.id).exists()
    assert not ProxyEndpoint.objects.filter(name="csrf").exists()
    assert ApiKey.objects.filter(organization=org).count() == 1


def test_with_the_csrf_token_the_form_works(owner, org):
    client = _client(owner, enforce_csrf_checks=True)
    page = client.get("/settings").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    response = client.post(
        "/settings/endpoints", {"name": "With token", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    assert ProxyEndpoint.objects.filter(name="With token").exists()
