"""Accepting an invitation: /invite/<token>, then sign up or log in."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.models import Invitation, Membership
from accounts.scoping import SESSION_ORGANIZATION_KEY
from accounts.services import invitation_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def invite_path(org, owner) -> str:
    _, path = invitation_create(organization=org, created_by=owner)
    return path


def test_an_anonymous_visitor_is_offered_sign_up_or_log_in(invite_path):
    token = invite_path.removeprefix("/invite/")

    response = Client().get(invite_path)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Join Acme" in html
    assert "owner invited you" in html
    assert f'href="/signup?invite={token}"' in html
    assert f'href="/login?next=/invite/{token}"' in html


def test_signing_up_through_the_invitation_makes_a_member_without_a_new_organization(
    invite_path, org
):
    token = invite_path.removeprefix("/invite/")
    client = Client()
    form = client.get(f"/signup?invite={token}")
    assert "organization_name" not in form.content.decode()

    response = client.post(
        "/signup",
        {"username": "grace", "email": "grace@example.com", "password": PASSWORD, "invite": token},
    )

    assert response.status_code == 302
    grace = get_user_model().objects.get(username="grace")
    assert [(m.organization, m.role) for m in Membership.objects.filter(user=grace)] == [
        (org, Membership.Role.MEMBER)
    ]
    assert client.session[SESSION_ORGANIZATION_KEY] == str(org.id)
    invitation = Invitation.objects.get()
    assert (invitation.accepted_by, invitation.accepted_at is not None) == (grace, True)
    # The link is spent.
    assert Client().get(invite_path).status_code == 410


def test_an_existing_user_logs_in_and_joins(invite_path, org, outsider, other_org):
    client = Client()
    client.force_login(outsider)

    page = client.get(invite_path)
    assert "Join Acme as outsider" in page.content.decode()
    response = client.post(invite_path)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert Membership.objects.get(user=outsider, organization=org).role == "member"
    # They keep their own organization and now look at Acme.
    assert Membership.objects.filter(user=outsider, organization=other_org).exists()
    assert client.get("/settings").context["organization"] == org


def test_accepting_requires_being_signed_in(invite_path):
    response = Client().post(invite_path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=/invite/")
    assert Invitation.objects.get().accepted_at is None


def test_a_used_link_cannot_make_a_second_member(invite_path, outsider, member):
    first = Client()
    first.force_login(outsider)
    first.post(invite_path)
    second = Client()
    second.force_login(get_user_model().objects.create_user(username="eve"))

    response = second.post(invite_path)

    assert response.status_code == 410
    assert not Membership.objects.filter(user__username="eve").exists()


def test_a_member_opening_the_link_keeps_it_unused(invite_path, member, org):
    client = Client()
    client.force_login(member)

    assert "already a member" in client.get(invite_path).content.decode()
    client.post(invite_path)

    assert Membership.objects.filter(user=member, organization=org).count() == 1
    assert Invitation.objects.get().accepted_at is None


def test_an_expired_invitation_is_410_everywhere(invite_path):
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    token = invite_path.removeprefix("/invite/")

    assert Client().get(invite_path).status_code == 410
    response = Client().post(
        "/signup",
        {"username": "grace", "email": "grace@example.com", "password": PASSWORD, "invite": token},
    )
    assert response.status_code == 410
    assert not get_user_model().objects.filter(username="grace").exists()


def test_accepting_needs_the_csrf_token(invite_path, outsider):
    client = Client(enforce_csrf_checks=True)
    client.force_login(outsider)

    assert client.post(invite_path).status_code == 403
    assert Invitation.objects.get().accepted_at is None


def test_invitation_link_visits_are_throttled_per_client_ip(
    invite_path, outsider, settings, one_rate_limit_window
):
    settings.THROTTLE_LINKS_PER_IP_PER_MINUTE = 2
    guesses = [Client().get(f"/invite/guess-{n}").status_code for n in range(2)]
    client = Client()
    client.force_login(outsider)

    response = client.post(invite_path)

    assert guesses == [410, 410]
    assert response.status_code == 429
    assert "Too many attempts; try again in a minute." in response.content.decode()
    assert not Membership.objects.filter(user=outsider, organization__name="Acme").exists()
