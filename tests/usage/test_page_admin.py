"""The Django admin for staff: accounts, proxy endpoints, usage logs (read-only), sessions."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from accounts.models import LoginLink
from accounts.services import invitation_create, login_link_create
from proxy.models import ProxyEndpoint
from proxy.selectors import proxy_endpoint_cache_key
from tests.usage.test_page_logs import at, record_call

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def staff_client(db):
    admin = get_user_model().objects.create_superuser(username="root", email="root@example.com")
    client = Client()
    client.force_login(admin)
    return client


def test_every_model_is_registered(staff_client):
    html = staff_client.get("/admin/").content.decode()

    for path in (
        "/admin/accounts/organization/",
        "/admin/accounts/membership/",
        "/admin/accounts/apikey/",
        "/admin/accounts/invitation/",
        "/admin/accounts/loginlink/",
        "/admin/proxy/proxyendpoint/",
        "/admin/usage/usagelog/",
        "/admin/usage/session/",
        "/admin/usage/usagedaily/",
    ):
        assert f'href="{path}"' in html, path


def test_a_user_who_is_not_staff_cannot_open_the_admin(owner):
    client = Client()
    client.force_login(owner)

    response = client.get("/admin/usage/usagelog/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_usage_log_shows_its_bodies_decompressed_and_read_only(staff_client, endpoint):
    log = record_call(
        endpoint,
        started_at=at(20),
        response=(FIXTURES / "anthropic_nonstream_basic.json").read_bytes(),
    )

    listing = staff_client.get("/admin/usage/usagelog/")
    page = staff_client.get(f"/admin/usage/usagelog/{log.id}/change/")

    assert listing.status_code == 200 and "acme-app" in listing.content.decode()
    html = page.content.decode()
    assert page.status_code == 200
    assert "What does prompt caching do?" in html  # request body, decompressed
    assert "Prompt caching stores a processed prefix" in html  # response body
    assert 'name="_save"' not in html  # nothing to save: read-only
    assert "AbCd" in html and "x-api-key" not in html
    assert staff_client.post(f"/admin/usage/usagelog/{log.id}/delete/").status_code == 403
    assert staff_client.get("/admin/usage/usagelog/add/").status_code == 403


def test_a_session_can_be_renamed_but_its_totals_are_read_only(staff_client, endpoint):
    log = record_call(endpoint, started_at=at(20), session_name="billing")
    session = log.session

    html = staff_client.get(f"/admin/usage/session/{session.id}/change/").content.decode()

    assert 'name="name"' in html
    assert 'name="cost_cents"' not in html and 'name="calls"' not in html


def test_deleting_an_endpoint_in_the_admin_goes_through_the_service(
    staff_client, endpoint, django_capture_on_commit_callbacks
):
    cache.set(proxy_endpoint_cache_key(slug="acme-app"), "stale", 60)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            f"/admin/proxy/proxyendpoint/{endpoint.id}/delete/", {"post": "yes"}
        )

    assert response.status_code == 302
    assert not ProxyEndpoint.objects.filter(id=endpoint.id).exists()
    assert ProxyEndpoint.all_objects.get(id=endpoint.id).deleted_at is not None  # its slug stays taken
    assert cache.get(proxy_endpoint_cache_key(slug="acme-app")) is None


def test_renaming_an_endpoint_keeps_its_slug(staff_client, endpoint):
    response = staff_client.post(
        f"/admin/proxy/proxyendpoint/{endpoint.id}/change/",
        {"name": "Renamed", "rate_limit_per_minute": "120", "slug": "hijack"},
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.slug, endpoint.rate_limit_per_minute) == (
        "Renamed",
        "acme-app",
        120,
    )


def test_login_links_and_invitations_never_show_their_token_digest(staff_client, owner, org):
    invitation, _ = invitation_create(organization=org, created_by=owner)
    login_link_create(user=owner)
    link = LoginLink.objects.get()

    for url, digest in (
        (f"/admin/accounts/invitation/{invitation.id}/change/", invitation.token_hash),
        (f"/admin/accounts/loginlink/{link.id}/change/", link.token_hash),
    ):
        html = staff_client.get(url).content.decode()
        assert digest not in html, url
