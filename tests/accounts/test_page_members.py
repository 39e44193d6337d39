"""Members and invitations: /members, /members/invitations/<id>/revoke."""

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Invitation
from accounts.selectors import api_key_hash
from accounts.services import invitation_create

pytestmark = pytest.mark.django_db

LINK_RE = re.compile(
    r'<code id="invitation-link">(http://testserver/invite/([A-Za-z0-9_-]+))</code>'
)


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member)
    return client


def test_members_are_listed_with_their_roles(member_client, owner, member):
    html = member_client.get("/members").content.decode()

    assert "owner@example.com" in html and "member@example.com" in html
    assert ">Owner</span>" in html and ">Member</span>" in html
    assert "outsider" not in html


def test_the_owner_creates_an_invitation_link_shown_once(owner_client, org, owner):
    response = owner_client.post("/members", {"email": ""})

    assert response.status_code == 200
    link, token = LINK_RE.search(response.content.decode()).groups()
    invitation = Invitation.objects.get(organization=org)
    assert invitation.token_hash == api_key_hash(token)
    assert (invitation.created_by, invitation.role, invitation.email) == (owner, "member", "")
    assert token not in owner_client.get("/members").content.decode()
    assert len(mail.outbox) == 0


def test_an_invitation_with_an_email_sends_the_link(owner_client, org):
    response = owner_client.post("/members", {"email": "grace@example.com"})

    link, _ = LINK_RE.search(response.content.decode()).groups()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["grace@example.com"]
    assert message.subject == "Join Acme on Codecosts"
    assert link in message.body
    assert "owner invited you to Acme" in message.body


def test_an_invalid_email_is_refused(owner_client):
    response = owner_client.post("/members", {"email": "grace@"})

    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_member_cannot_invite(member_client):
    response = member_client.post("/members", {"email": ""})

    assert response.status_code == 403
    assert not Invitation.objects.exists()
    assert "Create invitation link" not in member_client.get("/members").content.decode()


def test_the_owner_revokes_a_pending_invitation(owner_client, org, owner):
    invitation, path = invitation_create(organization=org, created_by=owner)

    response = owner_client.post(f"/members/invitations/{invitation.id}/revoke")

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert Client().get(path).status_code == 410


def test_revoking_another_organizations_invitation_is_404(owner_client, other_org, outsider):
    invitation, _ = invitation_create(organization=other_org, created_by=outsider)

    response = owner_client.post(f"/members/invitations/{invitation.id}/revoke")

    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_a_member_cannot_revoke_invitations(member_client, org, owner):
    invitation, _ = invitation_create(organization=org, created_by=owner)

    assert member_client.post(f"/members/invitations/{invitation.id}/revoke").status_code == 403


def test_inviting_needs_the_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    assert client.post("/members", {"email": ""}).status_code == 403
    assert not Invitation.objects.exists()
