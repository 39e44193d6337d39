"""Reads for organizations, memberships and API keys."""

import functools
import hashlib
import hmac
import re
import uuid
import zoneinfo

from django.db.models import QuerySet

from accounts.models import ApiKey, Membership, Organization

# `cc_` + secrets.token_urlsafe(32) (43 characters); the range leaves room for longer keys.
API_KEY_RE = re.compile(r"^cc_[A-Za-z0-9_-]{32,128}$")


# The shared-cache key under which the proxy keeps a key lookup by digest (or its
# absence); revoking a key deletes it (accounts.services.api_key_revoke).
API_KEY_CACHE_KEY = "proxy-key:v1:{digest}"


def api_key_cache_key(*, digest: str) -> str:
    return API_KEY_CACHE_KEY.format(digest=digest)


def api_key_hash(raw_key: str) -> str:
    """Return the SHA-256 hex digest under which a raw key is stored."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_is_well_formed(raw_key: str) -> bool:
    return bool(API_KEY_RE.fullmatch(raw_key))


def api_key_get_by_raw_key(*, raw_key: str) -> ApiKey | None:
    """Return the key (revoked or not) whose digest matches `raw_key`, or None."""
    if not api_key_is_well_formed(raw_key):
        return None
    digest = api_key_hash(raw_key)
    api_key = ApiKey.objects.select_related("organization").filter(key_hash=digest).first()
    # The indexed lookup finds the row; the constant-time comparison is what decides.
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    return api_key


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization=organization).order_by("created_at", "id")


def organization_get_by_name(*, name: str) -> Organization | None:
    """Return the oldest organization called `name`, or None."""
    return Organization.objects.filter(name=name).order_by("created_at", "id").first()


def organization_list_for_user(*, user) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user).order_by(
        "memberships__created_at", "id"
    )


def membership_get(*, user, organization: Organization) -> Membership | None:
    return Membership.objects.filter(user=user, organization=organization).first()


def organization_for_user(*, user, organization_id=None) -> Organization | None:
    """Return the user's active organization.

    That is `organization_id` (the session's choice) if the user is a member of it,
    else the organization of their oldest membership, else None.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    memberships = Membership.objects.filter(user=user).select_related("organization")
    if organization_id:
        try:
            organization_uuid = uuid.UUID(str(organization_id))
        except ValueError:
            organization_uuid = None
        if organization_uuid is not None:
            chosen = memberships.filter(organization_id=organization_uuid).first()
            if chosen is not None:
                return chosen.organization
    first = memberships.order_by("created_at", "id").first()
    return first.organization if first is not None else None


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Every IANA time zone this machine knows (read once: it walks the zone files)."""
    return frozenset(zoneinfo.available_timezones())
