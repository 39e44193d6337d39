"""The proxy endpoints REST API: /api/proxy-endpoints and /api/proxy-endpoints/<id>."""

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings

from accounts.selectors import api_key_get_by_raw_key
from accounts.services import api_key_revoke
from proxy.models import ProxyEndpoint
from proxy.selectors import ENDPOINT_CACHE_KEY
from proxy.services import proxy_endpoint_create

LIST_URL = "/api/proxy-endpoints"


def detail_url(endpoint_id) -> str:
    return f"/api/proxy-endpoints/{endpoint_id}"


def error(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content
    return response.json()["error"]


# --- create -------------------------------------------------------------------------


@override_settings(PUBLIC_URL="https://codecosts.example.com")
def test_it_creates_an_endpoint_and_returns_its_public_url(api_client, org):
    response = api_client.post(LIST_URL, {"name": "Production", "slug": "production"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id", "name", "slug", "url", "created_at", "rate_limit_per_minute", "require_key",
        "store_bodies",
    }
    assert body["store_bodies"] == "full"
    assert body["require_key"] is True  # hosted mode: locked unless asked otherwise
    assert body["name"] == "Production"
    assert body["slug"] == "production"
    assert body["url"] == "https://codecosts.example.com/proxy/production"
    assert body["rate_limit_per_minute"] is None
    endpoint = ProxyEndpoint.objects.get(id=body["id"])
    assert endpoint.organization == org
    assert body["created_at"] == endpoint.created_at.isoformat().replace("+00:00", "Z")


@override_settings(PUBLIC_URL="")
def test_without_public_url_the_url_is_built_from_the_request(api_client):
    response = api_client.post(
        LIST_URL, {"name": "x", "slug": "from-request"}, HTTP_HOST="localhost:3739"
    )

    assert response.status_code == 201
    assert response.json()["url"] == "http://localhost:3739/proxy/from-request"


def test_it_stores_a_rate_limit(api_client):
    response = api_client.post(LIST_URL, {"name": "limited", "rate_limit_per_minute": 120})

    assert response.status_code == 201
    assert response.json()["rate_limit_per_minute"] == 120
    assert ProxyEndpoint.objects.get(slug="limited").rate_limit_per_minute == 120


@pytest.mark.parametrize(
    "name, slug",
    [
        ("My Project", "my-project"),
        ("  Spaces   and_underscores  ", "spaces-and-underscores"),
        ("Café Déjà Vu!", "cafe-deja-vu"),
        ("---", "endpoint"),
        ("日本語", "endpoint"),
        ("a" * 100, "a" * 63),
    ],
)
def test_it_derives_the_slug_from_the_name(api_client, name, slug):
    response = api_client.post(LIST_URL, {"name": name})

    assert response.status_code == 201, response.content
    assert response.json()["slug"] == slug
    assert response.json()["name"] == name.strip()


def test_a_derived_slug_that_is_taken_gets_a_random_suffix(api_client, outsider_client):
    assert outsider_client.post(LIST_URL, {"name": "My Project"}).json()["slug"] == "my-project"

    slug = api_client.post(LIST_URL, {"name": "My Project"}).json()["slug"]

    assert slug.startswith("my-project-")
    assert len(slug) == len("my-project-") + 4
    assert slug[-4:].isalnum() and slug[-4:] == slug[-4:].lower()


def test_a_long_derived_slug_with_a_suffix_still_fits_63_characters(api_client):
    api_client.post(LIST_URL, {"name": "b" * 100})

    slug = api_client.post(LIST_URL, {"name": "b" * 100}).json()["slug"]

    assert len(slug) == 63
    assert slug.startswith("b" * 58 + "-")


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({}, "name", "name: This field is required."),
        ({"slug": "no-name"}, "name", "name: This field is required."),
        ({"name": ""}, "name", "name must not be blank."),
        ({"name": "   "}, "name", "name must not be blank."),
        ({"name": "x" * 101}, "name", "name must be at most 100 characters."),
        ({"name": None}, "name", "name: This field may not be null."),
        (
            {"name": "x", "rate_limit_per_minute": 0},
            "rate_limit_per_minute",
            "rate_limit_per_minute must be null or an integer between 1 and 100000.",
        ),
        (
            {"name": "x", "rate_limit_per_minute": 100001},
            "rate_limit_per_minute",
            "rate_limit_per_minute must be null or an integer between 1 and 100000.",
        ),
        (
            {"name": "x", "rate_limit_per_minute": "many"},
            "rate_limit_per_minute",
            "rate_limit_per_minute: A valid integer is required.",
        ),
    ],
)
def test_it_rejects_invalid_fields_with_a_message_per_field(api_client, payload, field, message):
    response = api_client.post(LIST_URL, payload)

    assert response.status_code == 400
    body = error(response)
    assert body["type"] == "invalid_request_error"
    assert body["message"] == message
    assert list(body["fields"]) == [field]
    assert ProxyEndpoint.objects.count() == 0


def test_a_name_of_exactly_100_characters_is_accepted(api_client):
    response = api_client.post(LIST_URL, {"name": "n" * 100, "slug": "hundred"})

    assert response.status_code == 201
    assert response.json()["name"] == "n" * 100


def test_it_reports_every_invalid_field_at_once(api_client):
    response = api_client.post(LIST_URL, {"slug": "UPPER", "rate_limit_per_minute": "x"})

    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"name", "rate_limit_per_minute"}


@pytest.mark.parametrize(
    "slug, message",
    [
        ("", "slug must not be empty."),
        ("a" * 64, "slug must be at most 63 characters."),
        ("My-Project", "slug may contain only lowercase letters (a-z), digits and hyphens."),
        ("my_project", "slug may contain only lowercase letters (a-z), digits and hyphens."),
        ("my project", "slug may contain only lowercase letters (a-z), digits and hyphens."),
        ("my.project", "slug may contain only lowercase letters (a-z), digits and hyphens."),
        ("café", "slug may contain only lowercase letters (a-z), digits and hyphens."),
        ("-leading", "slug must start and end with a letter or digit."),
        ("trailing-", "slug must start and end with a letter or digit."),
        ("-", "slug must start and end with a letter or digit."),
    ],
)
def test_it_rejects_an_invalid_explicit_slug_saying_why(api_client, slug, message):
    response = api_client.post(LIST_URL, {"name": "x", "slug": slug})

    assert response.status_code == 400
    assert error(response)["message"] == message
    assert error(response)["fields"] == {"slug": [message.rstrip(".")]}
    assert ProxyEndpoint.objects.count() == 0


@pytest.mark.parametrize("slug", ["a", "9", "a-b", "a--b", "0" * 63, "v2-prod-eu-1"])
def test_it_accepts_valid_explicit_slugs(api_client, slug):
    response = api_client.post(LIST_URL, {"name": "x", "slug": slug})

    assert response.status_code == 201
    assert response.json()["slug"] == slug


def test_an_explicit_slug_taken_by_another_organization_is_rejected(api_client, outsider_client):
    assert outsider_client.post(LIST_URL, {"name": "theirs", "slug": "shared"}).status_code == 201

    response = api_client.post(LIST_URL, {"name": "mine", "slug": "shared"})

    assert response.status_code == 400
    assert error(response)["message"] == "slug already taken."
    assert error(response)["code"] == "slug_taken"
    assert ProxyEndpoint.objects.filter(slug="shared").count() == 1


def _make_first_slug_check_stale(monkeypatch):
    """The first "is this slug taken?" answers no, as if the winner committed just after."""
    from proxy import services

    real = services.proxy_endpoint_slug_taken
    calls = []

    def stale_then_real(*, slug):
        calls.append(slug)
        return False if len(calls) == 1 else real(slug=slug)

    monkeypatch.setattr(services, "proxy_endpoint_slug_taken", stale_then_real)
    return calls


def test_a_slug_taken_between_the_check_and_the_insert_is_reported_as_taken(
    org, other_org, monkeypatch
):
    """The unique constraint decides the race; the loser gets the same 400, not a 500."""
    from django.core.exceptions import ValidationError

    proxy_endpoint_create(organization=other_org, name="winner", slug="raced")
    _make_first_slug_check_stale(monkeypatch)

    with pytest.raises(ValidationError) as raised:
        proxy_endpoint_create(organization=org, name="loser", slug="raced")

    assert raised.value.message_dict == {"slug": ["slug already taken"]}
    assert ProxyEndpoint.objects.get(slug="raced").name == "winner"


def test_a_derived_slug_lost_to_a_race_is_retried_with_a_suffix(org, other_org, monkeypatch):
    proxy_endpoint_create(organization=other_org, name="Raced", slug="raced")
    _make_first_slug_check_stale(monkeypatch)

    endpoint = proxy_endpoint_create(organization=org, name="Raced")

    assert endpoint.slug.startswith("raced-") and len(endpoint.slug) == len("raced-") + 4


def test_malformed_json_is_a_400_not_a_500(api_client):
    response = api_client.generic(
        "POST", LIST_URL, b'{"name": "x",', content_type="application/json"
    )

    assert response.status_code == 400
    assert error(response)["type"] == "invalid_request_error"
    assert error(response)["code"] == "parse_error"
    assert error(response)["message"].startswith("JSON parse error")


def test_a_json_body_that_is_not_an_object_is_a_400(api_client):
    response = api_client.generic("POST", LIST_URL, b'["name"]', content_type="application/json")

    assert response.status_code == 400
    assert "Expected a dictionary" in error(response)["message"]


def test_a_non_json_body_is_refused_with_415(api_client):
    response = api_client.generic(
        "POST", LIST_URL, b"name=x", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert error(response)["code"] == "unsupported_media_type"


def test_creating_an_endpoint_clears_a_cached_miss_for_its_slug(
    api_client, django_capture_on_commit_callbacks
):
    key = ENDPOINT_CACHE_KEY.format(slug="fresh")
    cache.set(key, "missing", 60)

    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(LIST_URL, {"name": "x", "slug": "fresh"}).status_code == 201

    assert cache.get(key) is None


# --- retrieve, update, delete -----------------------------------------------------------


@pytest.fixture
def their_endpoint(other_org):
    return proxy_endpoint_create(organization=other_org, name="Globex prod", slug="globex-prod")


def test_it_returns_one_endpoint(api_client, endpoint):
    response = api_client.get(detail_url(endpoint.id))

    assert response.status_code == 200
    assert response.json()["id"] == str(endpoint.id)
    assert response.json()["slug"] == "acme-app"
    assert response.json()["name"] == "Acme app"


def test_it_renames_and_relimits_an_endpoint(api_client, endpoint):
    response = api_client.patch(
        detail_url(endpoint.id), {"name": "  Renamed  ", "rate_limit_per_minute": 60}
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["rate_limit_per_minute"] == 60
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.rate_limit_per_minute, endpoint.slug) == (
        "Renamed",
        60,
        "acme-app",
    )


def test_patching_only_the_rate_limit_keeps_the_name_and_null_clears_it(api_client, endpoint):
    api_client.patch(detail_url(endpoint.id), {"rate_limit_per_minute": 10})
    response = api_client.patch(detail_url(endpoint.id), {"rate_limit_per_minute": None})

    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.rate_limit_per_minute) == ("Acme app", None)


def test_sending_the_same_slug_in_a_patch_is_allowed(api_client, endpoint):
    response = api_client.patch(detail_url(endpoint.id), {"slug": "acme-app", "name": "same slug"})

    assert response.status_code == 200
    assert response.json()["name"] == "same slug"


@pytest.mark.parametrize("slug", ["other-slug", None, ""])
def test_the_slug_cannot_be_changed(api_client, endpoint, slug):
    response = api_client.patch(detail_url(endpoint.id), {"slug": slug, "name": "changed"})

    assert response.status_code == 400
    assert error(response)["code"] == "slug_immutable"
    assert (
        error(response)["message"] == "slug cannot be changed; create a new endpoint for a new URL."
    )
    endpoint.refresh_from_db()
    assert (endpoint.slug, endpoint.name) == ("acme-app", "Acme app")


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"name": ""}, "name must not be blank."),
        ({"name": "x" * 101}, "name must be at most 100 characters."),
        (
            {"rate_limit_per_minute": 0},
            "rate_limit_per_minute must be null or an integer between 1 and 100000.",
        ),
    ],
)
def test_it_rejects_an_invalid_patch(api_client, endpoint, payload, message):
    response = api_client.patch(detail_url(endpoint.id), payload)

    assert response.status_code == 400
    assert error(response)["message"] == message
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.rate_limit_per_minute) == ("Acme app", None)


def test_a_malformed_json_patch_is_a_400(api_client, endpoint):
    response = api_client.generic(
        "PATCH", detail_url(endpoint.id), b"{", content_type="application/json"
    )

    assert response.status_code == 400
    assert error(response)["code"] == "parse_error"


def test_updating_an_endpoint_clears_its_shared_cache_entry(
    api_client, endpoint, django_capture_on_commit_callbacks
):
    key = ENDPOINT_CACHE_KEY.format(slug="acme-app")
    cache.set(key, ("stale",), 60)

    with django_capture_on_commit_callbacks(execute=True):
        api_client.patch(detail_url(endpoint.id), {"rate_limit_per_minute": 5})

    assert cache.get(key) is None


def test_it_deletes_an_endpoint_and_clears_its_cache_entry(
    api_client, endpoint, django_capture_on_commit_callbacks
):
    key = ENDPOINT_CACHE_KEY.format(slug="acme-app")
    cache.set(key, ("stale",), 60)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.delete(detail_url(endpoint.id))

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert not ProxyEndpoint.objects.filter(id=endpoint.id).exists()
    assert ProxyEndpoint.all_objects.filter(id=endpoint.id).exists()  # the tombstone
    assert cache.get(key) is None
    assert api_client.get(detail_url(endpoint.id)).status_code == 404


def test_a_deleted_endpoints_slug_is_never_another_organizations(
    api_client, outsider_client, endpoint
):
    api_client.delete(detail_url(endpoint.id))

    for payload in ({"name": "acme-app"}, {"name": "x", "slug": "acme-app"}):
        response = outsider_client.post(LIST_URL, payload)
        if "slug" in payload:
            assert response.status_code == 400
            assert error(response)["fields"]["slug"] == ["slug already taken"]
        else:
            assert response.status_code == 201
            assert response.json()["slug"].startswith("acme-app-")  # a suffix, not the slug
    tombstone = ProxyEndpoint.all_objects.get(id=endpoint.id)
    assert (tombstone.slug, tombstone.organization_id) == ("acme-app", endpoint.organization_id)
    assert tombstone.deleted_at is not None


def test_its_own_organization_may_take_a_deleted_slug_back(api_client, endpoint):
    api_client.delete(detail_url(endpoint.id))

    response = api_client.post(
        LIST_URL, {"name": "again", "slug": "acme-app", "require_key": False}
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["id"], body["name"], body["require_key"]) == (str(endpoint.id), "again", False)
    assert api_client.get(detail_url(endpoint.id)).status_code == 200


def test_an_owner_unlocks_and_locks_an_endpoint(api_client, endpoint, django_capture_on_commit_callbacks):
    key = ENDPOINT_CACHE_KEY.format(slug="acme-app")
    cache.set(key, ("stale",), 60)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.patch(detail_url(endpoint.id), {"require_key": False})
    assert (response.status_code, response.json()["require_key"]) == (200, False)
    assert cache.get(key) is None
    endpoint.refresh_from_db()
    assert endpoint.require_key is False
    response = api_client.patch(detail_url(endpoint.id), {"require_key": True})
    assert response.json()["require_key"] is True


def test_require_key_must_be_a_boolean(api_client, endpoint):
    response = api_client.patch(detail_url(endpoint.id), {"require_key": "maybe"})
    assert response.status_code == 400
    assert "require_key" in error(response)["fields"]


@override_settings(LOCAL_MODE=True)
def test_in_local_mode_new_endpoints_are_open_by_default(api_client):
    response = api_client.post(LIST_URL, {"name": "laptop"})
    assert (response.status_code, response.json()["require_key"]) == (201, False)


def test_put_is_not_allowed(api_client, endpoint):
    response = api_client.put(detail_url(endpoint.id), {"name": "x"})

    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_organizations_endpoint_is_a_404(api_client, their_endpoint, method):
    response = getattr(api_client, method)(
        detail_url(their_endpoint.id), {"name": "hijacked"} if method == "patch" else None
    )

    assert response.status_code == 404
    assert error(response) == {
        "type": "not_found_error",
        "message": "No ProxyEndpoint matches the given query.",
        "code": "not_found",
    }
    their_endpoint.refresh_from_db()
    assert their_endpoint.name == "Globex prod"


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_an_unknown_id_is_a_404(api_client, method):
    response = getattr(api_client, method)(detail_url(uuid.uuid4()))

    assert response.status_code == 404
    assert error(response)["type"] == "not_found_error"


@pytest.mark.parametrize("endpoint_id", ["not-a-uuid", "123", "acme-app"])
def test_a_non_uuid_id_is_a_404(api_client, endpoint, endpoint_id):
    response = api_client.get(detail_url(endpoint_id))

    assert response.status_code == 404
    assert error(response)["type"] == "not_found_error"


def test_a_trailing_slash_is_not_a_route(api_client):
    response = api_client.get(LIST_URL + "/")

    assert response.status_code == 404
    assert error(response)["type"] == "not_found_error"


# --- authentication -----------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", LIST_URL),
        ("post", LIST_URL),
        ("get", "ENDPOINT"),
        ("patch", "ENDPOINT"),
        ("delete", "ENDPOINT"),
    ],
)
@pytest.mark.parametrize(
    "authorization, message",
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer", "Invalid Authorization header: expected 'Bearer <api key>'."),
        ("Basic dXNlcjpwYXNz", "Invalid Authorization header: expected 'Bearer <api key>'."),
        ("Bearer not-a-key", "Invalid API key format: Codecosts API keys start with 'cc_'."),
        ("Bearer cc_" + "A" * 43, "Invalid API key."),
    ],
)
def test_every_route_answers_401_in_json_without_valid_credentials(
    anonymous_client, endpoint, method, path, authorization, message
):
    if authorization:
        anonymous_client.credentials(HTTP_AUTHORIZATION=authorization)
    url = detail_url(endpoint.id) if path == "ENDPOINT" else path

    response = getattr(anonymous_client, method)(
        url, {"name": "x"} if method in ("post", "patch") else None
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert error(response)["type"] == "authentication_error"
    assert error(response)["message"] == message
    assert ProxyEndpoint.objects.get().name == "Acme app"


def test_a_revoked_key_gets_401(api_client, owner_key, endpoint):
    api_key_revoke(api_key=api_key_get_by_raw_key(raw_key=owner_key))

    response = api_client.get(LIST_URL)

    assert response.status_code == 401
    assert error(response)["message"] == "This API key has been revoked."


def test_a_logged_in_browser_session_can_use_the_api(owner_session_client, endpoint):
    response = owner_session_client.get(LIST_URL)

    assert response.status_code == 200
    assert [item["slug"] for item in response.json()["items"]] == ["acme-app"]


def test_the_list_shows_only_the_callers_organization(
    api_client, outsider_client, endpoint, their_endpoint
):
    assert [item["id"] for item in api_client.get(LIST_URL).json()["items"]] == [str(endpoint.id)]
    assert [item["id"] for item in outsider_client.get(LIST_URL).json()["items"]] == [
        str(their_endpoint.id)
    ]


# --- list and pagination ---------------------------------------------------------------


def test_an_empty_list_has_no_cursor(api_client):
    response = api_client.get(LIST_URL)

    assert response.status_code == 200
    assert response.json() == {"items": [], "nextCursor": None, "hasMore": False}


def _make_endpoints(organization, count: int, prefix: str = "ep") -> list[ProxyEndpoint]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    endpoints = ProxyEndpoint.objects.bulk_create(
        ProxyEndpoint(organization=organization, name=f"{prefix} {i}", slug=f"{prefix}-{i}")
        for i in range(count)
    )
    # Distinct, increasing creation times regardless of the clock's resolution.
    for i, endpoint in enumerate(endpoints):
        ProxyEndpoint.objects.filter(pk=endpoint.pk).update(created_at=start + timedelta(seconds=i))
    return endpoints


def _page_through(client, limit: int, between_pages=None) -> tuple[list[str], int]:
    ids, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        body = client.get(LIST_URL, params).json()
        pages += 1
        ids += [item["id"] for item in body["items"]]
        assert body["hasMore"] == (body["nextCursor"] is not None)
        if not body["hasMore"]:
            return ids, pages
        cursor = body["nextCursor"]
        if between_pages:
            between_pages(pages)


def test_the_default_page_is_20_oldest_first(api_client, org):
    endpoints = _make_endpoints(org, 25)

    body = api_client.get(LIST_URL).json()

    assert [item["id"] for item in body["items"]] == [str(e.id) for e in endpoints[:20]]
    assert body["hasMore"] is True
    assert isinstance(body["nextCursor"], str)


def test_250_endpoints_paged_by_100_come_back_each_once_in_order(api_client, org, other_org):
    endpoints = _make_endpoints(org, 250)
    _make_endpoints(other_org, 5, prefix="globex")

    ids, pages = _page_through(api_client, 100)

    assert pages == 3
    assert ids == [str(e.id) for e in endpoints]


def test_cursors_stay_valid_while_endpoints_are_created_between_pages(api_client, org):
    endpoints = _make_endpoints(org, 250)
    added = []

    def add_one(page):
        added.append(proxy_endpoint_create(organization=org, name=f"added {page}"))

    ids, _ = _page_through(api_client, 100, between_pages=add_one)

    assert ids == [str(e.id) for e in endpoints] + [str(e.id) for e in added]
    assert len(added) == 2


def test_endpoints_created_at_the_same_instant_are_neither_skipped_nor_repeated(api_client, org):
    endpoints = _make_endpoints(org, 30)
    same = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    ProxyEndpoint.objects.filter(slug__in=[f"ep-{i}" for i in range(5, 25)]).update(created_at=same)
    expected = list(
        ProxyEndpoint.objects.filter(organization=org)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )

    ids, pages = _page_through(api_client, 7)

    assert ids == [str(i) for i in expected]
    assert len(set(ids)) == 30
    assert pages == 5
    tied = set(str(e.id) for e in endpoints[5:25])
    # The tied rows follow the untied earlier ones and come in id order.
    assert ids[5:10] == [str(i) for i in expected[5:10]] and set(ids[10:30]) == tied


def test_a_limit_of_100_is_accepted_and_1_gives_one_item(api_client, org):
    _make_endpoints(org, 3)

    assert len(api_client.get(LIST_URL, {"limit": 100}).json()["items"]) == 3
    assert len(api_client.get(LIST_URL, {"limit": 1}).json()["items"]) == 1


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", " 5"])
def test_a_limit_outside_1_to_100_is_a_400_that_says_the_range(api_client, limit):
    response = api_client.get(LIST_URL, {"limit": limit})

    assert response.status_code == 400
    assert error(response)["message"] == "limit must be an integer between 1 and 100."
    assert error(response)["code"] == "invalid_limit"
    assert error(response)["fields"] == {"limit": ["limit must be an integer between 1 and 100"]}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "not base64 at all",
        _b64("no separator"),
        _b64("2026-01-01T00:00:00+00:00|not-a-uuid"),
        _b64(f"yesterday|{uuid.uuid4()}"),
        _b64(f"2026-01-01T00:00:00|{uuid.uuid4()}"),
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    ],
)
def test_an_invalid_cursor_is_a_400(api_client, cursor):
    response = api_client.get(LIST_URL, {"cursor": cursor})

    assert response.status_code == 400
    assert error(response)["code"] == "invalid_cursor"
    assert list(error(response)["fields"]) == ["cursor"]


def test_a_cursor_is_opaque_url_safe_base64_of_the_last_items_position(api_client, org):
    endpoints = _make_endpoints(org, 3)

    cursor = api_client.get(LIST_URL, {"limit": 2}).json()["nextCursor"]

    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    assert decoded == f"2026-01-01T00:00:01+00:00|{endpoints[1].id}"
