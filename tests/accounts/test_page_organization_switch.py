"""Switching organization: /organization/switch (POST)."""

import pytest
from django.test import Client

from accounts.models import Membership
from accounts.scoping import SESSION_ORGANIZATION_KEY
from accounts.services import membership_create, organization_create
from proxy.services import proxy_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_org(owner):
    """A second organization the owner of Acme also owns."""
    return organization_create(name="Acme Labs", owner=owner)


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def test_a_user_in_several_organizations_sees_a_switcher(owner_client, second_org):
    html = owner_client.get("/settings").content.decode()

    assert 'action="/organization/switch"' in html
    assert ">Acme</option>" in html and ">Acme Labs</option>" in html


def test_a_user_in_one_organization_sees_no_switcher(member):
    client = Client()
    client.force_login(member)

    assert 'action="/organization/switch"' not in client.get("/settings").content.decode()


def test_switching_changes_what_every_page_shows(owner_client, org, second_org):
    proxy_endpoint_create(organization=org, name="Acme app", slug="acme-app")
    proxy_endpoint_create(organization=second_org, name="Labs app", slug="labs-app")
    assert "acme-app" in owner_client.get("/settings").content.decode()

    response = owner_client.post(
        "/organization/switch", {"organization": str(second_org.id), "next": "/settings?x=1"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/settings"
    assert owner_client.session[SESSION_ORGANIZATION_KEY] == str(second_org.id)
    html = owner_client.get("/settings").content.decode()
    assert "labs-app" in html and "acme-app" not in html


def test_switching_from_a_detail_page_lands_on_the_dashboard(owner_client, second_org):
    response = owner_client.post(
        "/organization/switch",
        {"organization": str(second_org.id), "next": "/logs/7c9e6679-7425-40de-944b-e07fc1f90ae7"},
    )

    assert response["Location"] == "/"


def test_switching_to_an_organization_one_is_not_a_member_of_is_404(owner_client, other_org, org):
    response = owner_client.post("/organization/switch", {"organization": str(other_org.id)})

    assert response.status_code == 404
    assert SESSION_ORGANIZATION_KEY not in owner_client.session


def test_a_membership_removed_after_switching_falls_back_to_the_first_one(
    owner, owner_client, org, second_org
):
    owner_client.post("/organization/switch", {"organization": str(second_org.id)})
    Membership.objects.filter(user=owner, organization=second_org).delete()

    response = owner_client.get("/settings")

    assert response.context["organization"] == org


def test_switching_needs_post_and_the_csrf_token(owner, second_org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    assert client.get("/organization/switch").status_code == 405
    assert (
        client.post("/organization/switch", {"organization": str(second_org.id)}).status_code == 403
    )
    assert SESSION_ORGANIZATION_KEY not in client.session


def test_a_member_switches_too(member, org):
    labs = organization_create(name="Labs")
    membership_create(organization=labs, user=member)
    client = Client()
    client.force_login(member)

    client.post("/organization/switch", {"organization": str(labs.id)})

    assert client.get("/").context["organization"] == labs
