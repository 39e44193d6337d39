"""Roles in one place: every route × every kind of caller × organization (issue 8).

One table says, for each route of the product, what each caller gets: Acme's owner and
member (signed in), Globex's owner (an outsider, calling with Acme's object ids),
nobody, Acme's full API key and Acme's proxy key. The pages and the REST API follow the
same rules (accounts.permissions), so a member gets 403 from `DELETE
/api/proxy-endpoints/<id>` exactly as from the page's delete button, and nothing
changes. A last test fails when a route exists that the table does not list.
"""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import ApiKey, Invitation, Organization
from accounts.services import api_key_create, invitation_create
from budgets.destinations import alert_destination_create
from budgets.models import AlertDestination, Budget
from budgets.services import budget_create
from proxy.models import ProxyEndpoint
from proxy.services import proxy_endpoint_create
from usage.models import Session, UsageLog
from usage.services.sessions import session_start

pytestmark = pytest.mark.django_db

CALLERS = ("owner", "member", "outsider", "anonymous", "full_key", "proxy_key")
LOGIN = "login"  # a redirect to the sign-in page

# Expected answers per caller, in CALLERS order.
READ_API = (200, 200, 404, 401, 200, 403)  # one of Acme's objects
LIST_API = (200, 200, 200, 401, 200, 403)  # the caller's own organization's list
MEMBER_WRITE_API = (201, 201, 201, 401, 201, 403)
OWNER_WRITE_API = (200, 403, 404, 401, 200, 403)
PAGE = (200, 200, 200, LOGIN, LOGIN, LOGIN)  # keys never sign in to pages
OBJECT_PAGE = (200, 200, 404, LOGIN, LOGIN, LOGIN)
MEMBER_POST = (302, 302, 302, LOGIN, LOGIN, LOGIN)
OWNER_POST = (302, 403, 404, LOGIN, LOGIN, LOGIN)  # the outsider owns Globex: Acme's object is not found

# (route name, method, path, body, expected per caller, what must be unchanged on refusal)
TABLE = [
    # --- REST API ---------------------------------------------------------------------
    ("proxy-endpoint-list", "get", "/api/proxy-endpoints", None, LIST_API, None),
    ("proxy-endpoint-list", "post", "/api/proxy-endpoints", {"name": "new one"}, MEMBER_WRITE_API, None),
    ("proxy-endpoint-detail", "get", "/api/proxy-endpoints/{endpoint}", None, READ_API, None),
    (
        "proxy-endpoint-detail", "patch", "/api/proxy-endpoints/{endpoint}",
        {"rate_limit_per_minute": 1, "require_key": False, "store_bodies": "metadata_only"}, OWNER_WRITE_API, "endpoint",
    ),
    ("proxy-endpoint-detail", "delete", "/api/proxy-endpoints/{endpoint}", None, OWNER_WRITE_API, "endpoint"),
    ("usage-log-list", "get", "/api/usage-logs", None, LIST_API, None),
    ("usage-log-detail", "get", "/api/usage-logs/{log}", None, READ_API, None),
    ("usage-summary-list", "get", "/api/usage/summary?group_by=model", None, LIST_API, None),
    ("session-list", "get", "/api/sessions", None, LIST_API, None),
    ("session-list", "post", "/api/sessions", {"name": "Sprint"}, MEMBER_WRITE_API, None),
    ("session-detail", "get", "/api/sessions/{session}", None, READ_API, None),
    ("session-end", "post", "/api/sessions/{session}/end", None, (200, 200, 404, 401, 200, 403), "session"),
    ("budget-list", "get", "/api/budgets", None, LIST_API, None),
    # The outsider creates in Globex, their own organization.
    ("budget-list", "post", "/api/budgets", {"name": "New", "amount_usd": "5"}, (201, 403, 201, 401, 201, 403), "budgets"),
    ("budget-detail", "get", "/api/budgets/{budget}", None, READ_API, None),
    ("budget-detail", "patch", "/api/budgets/{budget}", {"amount_usd": "1"}, OWNER_WRITE_API, "budgets"),
    ("budget-detail", "delete", "/api/budgets/{budget}", None, OWNER_WRITE_API, "budgets"),
    ("alert-destination-list", "get", "/api/alert-destinations", None, LIST_API, None),
    (
        "alert-destination-list", "post", "/api/alert-destinations", {"kind": "email", "target": "new@acme.example"},
        (201, 403, 201, 401, 201, 403), "destinations",
    ),
    ("alert-destination-detail", "get", "/api/alert-destinations/{destination}", None, READ_API, None),
    ("alert-destination-detail", "delete", "/api/alert-destinations/{destination}", None, OWNER_WRITE_API, "destinations"),
    ("alert-destination-deliveries", "get", "/api/alert-destinations/{destination}/deliveries", None, READ_API, None),
    # The caller's own organization: the outsider reads and changes Globex, never Acme.
    ("organization-detail", "get", "/api/organization", None, LIST_API, None),
    (
        "organization-detail", "patch", "/api/organization", {"body_retention_days": 7},
        (200, 403, 200, 401, 200, 403), "organization",
    ),
    # --- Pages ------------------------------------------------------------------------
    ("dashboard", "get", "/", None, PAGE, None),
    ("logs", "get", "/logs", None, PAGE, None),
    ("logs_export", "get", "/logs/export.csv", None, PAGE, None),
    ("log_detail", "get", "/logs/{log}", None, OBJECT_PAGE, None),
    ("sessions", "get", "/sessions", None, PAGE, None),
    ("people", "get", "/people", None, PAGE, None),
    ("agents", "get", "/agents", None, PAGE, None),
    ("properties", "get", "/properties", None, PAGE, None),
    ("session_start", "post", "/sessions/start", {"name": "Sprint"}, MEMBER_POST, None),
    ("session_end", "post", "/sessions/{session}/end", None, (302, 302, 404, LOGIN, LOGIN, LOGIN), "session"),
    ("settings", "get", "/settings", None, PAGE, None),
    ("endpoint_create", "post", "/settings/endpoints", {"name": "From page"}, MEMBER_POST, None),
    ("endpoint_lock", "post", "/settings/endpoints/{endpoint}/lock", {"require_key": "0"}, OWNER_POST, "endpoint"),
    (
        "endpoint_store_bodies", "post", "/settings/endpoints/{endpoint}/bodies",
        {"store_bodies": "metadata_only"}, OWNER_POST, "endpoint",
    ),
    ("endpoint_delete", "post", "/settings/endpoints/{endpoint}/delete", None, OWNER_POST, "endpoint"),
    ("api_key_create", "post", "/settings/api-keys", {"name": "k", "scope": "full"}, (200, 403, 200, LOGIN, LOGIN, LOGIN), "keys"),
    ("api_key_revoke", "post", "/settings/api-keys/{key}/revoke", None, OWNER_POST, "keys"),
    (
        "budget_create", "post", "/settings/budgets", {"name": "From page", "amount_usd": "5"},
        (302, 403, 302, LOGIN, LOGIN, LOGIN), "budgets",
    ),
    ("budget_delete", "post", "/settings/budgets/{budget}/delete", None, OWNER_POST, "budgets"),
    (
        "alert_destination_create", "post", "/settings/alert-destinations", {"kind": "email", "target": "p@acme.example"},
        (302, 403, 302, LOGIN, LOGIN, LOGIN), "destinations",
    ),
    ("alert_destination_delete", "post", "/settings/alert-destinations/{destination}/delete", None, OWNER_POST, "destinations"),
    (
        "time_zone", "post", "/settings/time-zone", {"time_zone": "Europe/Paris"},
        (302, 403, 302, LOGIN, LOGIN, LOGIN), "organization",
    ),
    (
        "retention_settings", "post", "/settings/retention", {"body_retention_days": "7", "usage_retention_days": ""},
        (302, 403, 302, LOGIN, LOGIN, LOGIN), "organization",
    ),
    ("members", "get", "/members", None, PAGE, None),
    # The outsider invites into Globex, their own organization.
    ("members", "post", "/members", {"email": ""}, (200, 403, 200, LOGIN, LOGIN, LOGIN), "invitations"),
    (
        "invitation_revoke", "post", "/members/invitations/{invitation}/revoke", None,
        OWNER_POST, "invitations",
    ),
]

# Routes outside the organization rules: public, the caller's own account, or the proxy
# (locked endpoints: tests/proxy/test_endpoint_lock.py).
NOT_ROLE_GATED = {
    "health", "signup", "login", "logout", "login_link", "invitation", "organization_switch",
    "local_login_link", "admin", "admin_login", "proxy", "static",
}


@pytest.fixture
def world(org, other_org, owner, member, outsider):
    endpoint = proxy_endpoint_create(organization=org, name="Acme prod", slug="acme-prod")
    log = UsageLog.objects.create(
        id=uuid.uuid4(), organization=org, endpoint=endpoint, endpoint_slug=endpoint.slug,
        provider="anthropic", path="/v1/messages", model="claude-sonnet-4-6", status_code=200,
        started_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
    )
    session = session_start(organization=org, name="Running")
    full_key, full_raw = api_key_create(organization=org, name="full", created_by=owner)
    _, proxy_raw = api_key_create(organization=org, name="dev", scope=ApiKey.Scope.PROXY)
    invitation, _ = invitation_create(organization=org, created_by=owner)
    budget = budget_create(organization=org, name="Team", amount_cents=Decimal(100))
    destination = alert_destination_create(organization=org, kind="email", target="ops@acme.example")
    return {
        "ids": {
            "endpoint": endpoint.id, "log": log.id, "session": session.id, "key": full_key.id,
            "invitation": invitation.id, "budget": budget.id, "destination": destination.id,
        },
        "users": {"owner": owner, "member": member, "outsider": outsider},
        "keys": {"full_key": full_raw, "proxy_key": proxy_raw},
        "org": org,
    }


def _client(world, caller: str) -> Client:
    client = Client()
    if caller in world["users"]:
        client.force_login(world["users"][caller])
    elif caller in world["keys"]:
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {world['keys'][caller]}"
    return client


def _state(world, what: str | None):
    ids = world["ids"]
    if what == "endpoint":
        return list(ProxyEndpoint.all_objects.filter(id=ids["endpoint"]).values())
    if what == "session":
        return list(Session.objects.filter(id=ids["session"]).values())
    if what == "keys":
        return list(ApiKey.objects.filter(organization=world["org"]).values())
    if what == "invitations":
        return list(Invitation.objects.filter(organization=world["org"]).values())
    if what == "budgets":
        return list(Budget.objects.filter(organization=world["org"]).values())
    if what == "destinations":
        return list(AlertDestination.objects.filter(organization=world["org"]).values())
    if what == "organization":
        return list(Organization.objects.filter(id=world["org"].id).values())
    return None


def _cases():
    for name, method, path, body, expected, guarded in TABLE:
        for caller, status in zip(CALLERS, expected):
            yield pytest.param(method, path, body, caller, status, guarded, id=f"{method} {path} as {caller}")


@pytest.mark.parametrize(("method", "path", "body", "caller", "expected", "guarded"), list(_cases()))
def test_every_route_for_every_caller(world, method, path, body, caller, expected, guarded):
    client = _client(world, caller)
    url = path.format(**world["ids"])
    before = _state(world, guarded)
    if url.startswith("/api/"):
        kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
    else:
        kwargs = {"data": body} if body else {}
    response = getattr(client, method)(url, **kwargs)

    if expected == LOGIN:
        assert response.status_code == 302, response.content[:300]
        assert response["Location"].startswith("/login")
    else:
        assert response.status_code == expected, response.content[:300]
    if (expected == LOGIN or expected in (401, 403, 404)) and guarded:
        assert _state(world, guarded) == before  # a refusal changed nothing
    if url.startswith("/api/") and response.status_code in (401, 403, 404):
        assert response.json()["error"]["message"]  # the API's error shape


def test_a_members_api_refusal_says_what_only_an_owner_may_do(world):
    client = _client(world, "member")
    response = client.delete(f"/api/proxy-endpoints/{world['ids']['endpoint']}")
    assert response.json()["error"]["message"] == "Only an owner of the organization can delete an endpoint."
    response = _client(world, "proxy_key").get("/api/proxy-endpoints")
    assert "proxy key" in response.json()["error"]["message"]


def _route_names(resolver: URLResolver, prefix: str = "") -> set[str]:
    names = set()
    for pattern in resolver.url_patterns:
        text = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if text.startswith("admin/"):
                names.add("admin")
                continue
            names |= _route_names(pattern, text)
        elif isinstance(pattern, URLPattern):
            if text.startswith(("^proxy", "proxy", "anthropic", "^anthropic", "^openai", "^(?:anthropic")):
                names.add("proxy")
            elif text.startswith("^static"):
                names.add("static")
            else:
                names.add(pattern.name)
    return names


def test_the_table_lists_every_route():
    routes = _route_names(get_resolver())
    listed = {name for name, *_ in TABLE} | NOT_ROLE_GATED
    assert None not in routes, "every route has a name"
    assert routes - listed == set(), f"routes missing from the table: {routes - listed}"


# --- The attack, against a running server ----------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_member_signed_in_to_the_running_product_cannot_delete_or_relimit_through_the_api(live_stack):
    import re

    import httpx
    from django.contrib.auth import get_user_model

    from accounts.models import Membership
    from accounts.services import membership_create, organization_create

    organization = organization_create(name="Live roles")
    member = get_user_model().objects.create_user(username="live-member", password="a long passphrase 42")
    membership_create(organization=organization, user=member, role=Membership.Role.MEMBER)
    endpoint = proxy_endpoint_create(organization=organization, name="Prod", slug="live-roles-prod")
    _, proxy_raw = api_key_create(organization=organization, scope=ApiKey.Scope.PROXY)

    with httpx.Client(base_url=live_stack.url, timeout=10) as browser:
        page = browser.get("/login").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        signed_in = browser.post(
            "/login", data={"username": "live-member", "password": "a long passphrase 42", "csrfmiddlewaretoken": token}
        )
        assert signed_in.status_code == 302
        headers = {"X-CSRFToken": browser.cookies["csrftoken"], "Referer": live_stack.url + "/"}
        url = f"/api/proxy-endpoints/{endpoint.id}"
        assert browser.get(url).status_code == 200  # a member sees it
        deleted = browser.delete(url, headers=headers)
        relimited = browser.patch(url, json={"rate_limit_per_minute": 1}, headers=headers)
    assert (deleted.status_code, relimited.status_code) == (403, 403)
    assert relimited.json()["error"]["message"] == "Only an owner of the organization can change an endpoint."
    # A developer's proxy key manages nothing either.
    as_key = httpx.delete(live_stack.url + url, headers={"Authorization": f"Bearer {proxy_raw}"})
    assert as_key.status_code == 403
    endpoint = ProxyEndpoint.objects.get(id=endpoint.id)
    assert (endpoint.deleted_at, endpoint.rate_limit_per_minute) == (None, None)
