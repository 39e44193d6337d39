"""Writes for organizations, memberships and API keys."""

import logging
import secrets
import smtplib
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, Invitation, LoginLink, Membership, Organization
from accounts.selectors import api_key_cache_key, api_key_hash, membership_get, time_zone_names

logger = logging.getLogger(__name__)

# How many characters of a raw key are kept in clear, to tell keys apart in lists.
API_KEY_DISPLAY_PREFIX_LENGTH = 12
# `last_used_at` is a hint for humans; writing it on every request would turn each
# authenticated read into a write on the same row.
API_KEY_LAST_USED_RESOLUTION = timedelta(hours=1)
ORGANIZATION_NAME_MAX_LENGTH = 200


def organization_name_clean(name: str) -> str:
    """An organization's name, stripped; ValidationError when blank or too long."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "name must not be blank"}, code="blank")
    if len(name) > ORGANIZATION_NAME_MAX_LENGTH:
        raise ValidationError(
            {"name": f"name must be at most {ORGANIZATION_NAME_MAX_LENGTH} characters"},
            code="max_length",
        )
    return name


def time_zone_clean(time_zone: str) -> str:
    """An IANA time zone name, stripped; ValidationError when there is no such zone."""
    time_zone = (time_zone or "").strip()
    if time_zone not in time_zone_names():
        raise ValidationError(
            {
                "time_zone": "time_zone must be an IANA time zone name, such as UTC, "
                f"America/New_York or Europe/Paris (not {time_zone!r})"
            },
            code="invalid",
        )
    return time_zone


def organization_create(*, name: str, owner=None) -> Organization:
    """Create an organization; with `owner`, make that user its owner."""
    name = organization_name_clean(name)
    with transaction.atomic():
        organization = Organization.objects.create(name=name)
        if owner is not None:
            membership_create(organization=organization, user=owner, role=Membership.Role.OWNER)
    return organization


def organization_time_zone_set(*, organization: Organization, time_zone: str) -> Organization:
    """Set the IANA time zone whose calendar days, weeks and months budgets follow."""
    organization.time_zone = time_zone_clean(time_zone)
    organization.save(update_fields=["time_zone"])
    return organization


def membership_create(
    *, organization: Organization, user, role: str = Membership.Role.MEMBER
) -> Membership:
    """Add `user` to `organization` with `role` (owner or member)."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"role must be one of {Membership.Role.values}"})
    return Membership.objects.create(organization=organization, user=user, role=role)


def api_key_create(
    *,
    organization: Organization,
    name: str = "",
    created_by=None,
    scope: str = ApiKey.Scope.FULL,
) -> tuple[ApiKey, str]:
    """Create an API key; return it with the raw key, which exists nowhere else.

    Only the SHA-256 digest and the first few characters are stored: show the raw
    key to its owner once, then drop it.
    """
    if scope not in ApiKey.Scope.values:
        raise ValidationError(
            {"scope": ValidationError(f"scope must be one of {', '.join(ApiKey.Scope.values)}", code="invalid")}
        )
    raw_key = ApiKey.PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        organization=organization,
        scope=scope,
        name=(name or "").strip()[:100],
        display_prefix=raw_key[:API_KEY_DISPLAY_PREFIX_LENGTH],
        key_hash=api_key_hash(raw_key),
        created_by=created_by,
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke the key from now on; revoking twice keeps the first time.

    The proxy's shared-cache entry for the key goes once the revocation commits; a
    process that looked the key up keeps it for at most PROXY_ENDPOINT_CACHE_SECONDS.
    """
    if api_key.revoked_at is None:
        now = timezone.now()
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
        api_key.refresh_from_db(fields=["revoked_at"])
        digest = api_key.key_hash
        # robust: a cache outage must not undo a committed revocation as a 500.
        transaction.on_commit(lambda: cache.delete(api_key_cache_key(digest=digest)), robust=True)
    return api_key


def api_key_mark_used(*, api_key: ApiKey, now: datetime | None = None) -> bool:
    """Record that the key was used, at most once per hour; return whether it wrote.

    The condition lives in the UPDATE itself, so of many concurrent requests with a
    stale `last_used_at` only the first one writes.
    """
    now = now or timezone.now()
    threshold = now - API_KEY_LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at >= threshold:
        return False
    updated = (
        ApiKey.objects.filter(pk=api_key.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=threshold))
        .update(last_used_at=now)
    )
    if updated:
        api_key.last_used_at = now
    return bool(updated)


def login_link_create(*, user) -> str:
    """Create a one-time sign-in link for `user`, valid 15 minutes; return its path.

    The token exists only in the returned path; the database keeps its SHA-256 digest.
    """
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    LoginLink.objects.create(
        user=user,
        token_hash=api_key_hash(token),
        expires_at=now + timedelta(minutes=LoginLink.LIFETIME_MINUTES),
    )
    return f"/login/link/{token}"


def login_link_use(*, token: str, now: datetime | None = None):
    """Spend a sign-in link; return its user, or None if it is unknown, used or expired.

    The check and the write are one conditional UPDATE, so of two simultaneous uses of
    the same link exactly one succeeds.
    """
    now = now or timezone.now()
    links = LoginLink.objects.filter(
        token_hash=api_key_hash(token or ""), used_at__isnull=True, expires_at__gt=now
    )
    link = links.select_related("user").first()
    if link is None or not links.filter(pk=link.pk).update(used_at=now):
        return None
    if not link.user.is_active:
        return None
    return link.user


def user_sign_up(
    *,
    username: str,
    email: str,
    password: str,
    organization_name: str = "",
    invitation_token: str | None = None,
):
    """Create a user with a password; they join the invitation's organization if given one,
    else they own a new organization (named `organization_name`, or after them)."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=username, email=email, password=password
        )
        if invitation_token:
            invitation_accept(token=invitation_token, user=user)
        else:
            organization_create(name=organization_name or f"{username}'s organization", owner=user)
    return user


def invitation_create(
    *, organization: Organization, created_by, email: str = "", base_url: str = ""
) -> tuple[Invitation, str]:
    """Create an invitation to `organization` as a member; return it with its link's path.

    The token exists only in the path (and in the email sent to `email`, if given).
    `base_url` ("https://host") makes the emailed link absolute.
    """
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=(email or "").strip(),
        role=Membership.Role.MEMBER,
        token_hash=api_key_hash(token),
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=Invitation.LIFETIME_DAYS),
    )
    path = f"/invite/{token}"
    if invitation.email:
        inviter = getattr(created_by, "username", "") or "A colleague"
        try:
            send_mail(
                subject=f"Join {organization.name} on Codecosts",
                message=(
                    f"{inviter} invited you to {organization.name} on Codecosts.\n\n"
                    f"Open this link to join (valid {Invitation.LIFETIME_DAYS} days, once):\n"
                    f"{base_url}{path}\n"
                ),
                from_email=None,
                recipient_list=[invitation.email],
            )
        except (smtplib.SMTPException, OSError):
            # The link is also shown to the owner, who can pass it on by hand.
            logger.warning("invitation email to %s failed", invitation.email, exc_info=True)
    return invitation, path


def invitation_accept(*, token: str, user, now: datetime | None = None) -> Membership:
    """Make `user` a member through an invitation link, which then cannot be used again.

    A user who already belongs to the organization keeps their membership and leaves
    the invitation unused.
    """
    now = now or timezone.now()
    pending = Invitation.objects.filter(
        token_hash=api_key_hash(token or ""),
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now,
    )
    with transaction.atomic():
        invitation = pending.select_related("organization").first()
        if invitation is None:
            raise ValidationError(
                "This invitation was already used, revoked or has expired.",
                code="invitation_invalid",
            )
        existing = membership_get(user=user, organization=invitation.organization)
        if existing is not None:
            return existing
        # The conditional UPDATE decides between two people accepting the same link at once.
        if not pending.filter(pk=invitation.pk).update(accepted_at=now, accepted_by=user):
            raise ValidationError(
                "This invitation was already used, revoked or has expired.",
                code="invitation_invalid",
            )
        return membership_create(
            organization=invitation.organization, user=user, role=invitation.role
        )


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """Revoke a pending invitation; its link stops working."""
    if invitation.revoked_at is None and invitation.accepted_at is None:
        Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        invitation.refresh_from_db(fields=["revoked_at"])
    return invitation
