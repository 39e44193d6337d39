"""Writes for proxy endpoints.

Slugs are global (they are the URL), lowercase letters, digits and hyphens, 1–63
characters, starting and ending with a letter or digit, and never reassigned: a deleted
endpoint stays as a tombstone whose slug only its own organization may take again. Every write deletes the
endpoint's shared-cache entry once the transaction commits, so the proxy sees a new,
changed or deleted endpoint without waiting for the entry to expire (creation matters
too: the proxy caches "no such slug" for a few seconds).
"""

import enum
import logging
import re
import secrets
import string
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Organization
from proxy.models import LOCAL_SLUG, LOCAL_USERNAME, ProxyEndpoint
from proxy.selectors import proxy_endpoint_cache_key, proxy_endpoint_slug_taken

logger = logging.getLogger(__name__)

SLUG_MAX_LENGTH = 63
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SLUG_FALLBACK = "endpoint"
SLUG_SUFFIX_LENGTH = 4
SLUG_ATTEMPTS = 10
NAME_MAX_LENGTH = 100
RATE_LIMIT_MAX = 100_000


class Unset(enum.Enum):
    UNSET = "UNSET"


UNSET = Unset.UNSET


def _slug_error(message: str, code: str) -> ValidationError:
    return ValidationError({"slug": ValidationError(message, code=code)})


def proxy_endpoint_validate_slug(slug: str) -> None:
    """Raise a ValidationError that says what is wrong with an explicit slug."""
    if not isinstance(slug, str) or not slug:
        raise _slug_error("slug must not be empty", "blank")
    if len(slug) > SLUG_MAX_LENGTH:
        raise _slug_error(f"slug must be at most {SLUG_MAX_LENGTH} characters", "max_length")
    if re.search(r"[^a-z0-9-]", slug):
        raise _slug_error(
            "slug may contain only lowercase letters (a-z), digits and hyphens", "invalid_slug"
        )
    if slug.startswith("-") or slug.endswith("-"):
        raise _slug_error("slug must start and end with a letter or digit", "invalid_slug")


def proxy_endpoint_slug_from_name(name: str) -> str:
    """A valid slug made from a name: "My Project_2" → "my-project-2"; never empty."""
    slug = re.sub(r"[-_\s]+", "-", slugify(name)).strip("-")
    slug = slug[:SLUG_MAX_LENGTH].rstrip("-")
    return slug or SLUG_FALLBACK


def _with_suffix(base: str) -> str:
    alphabet = string.ascii_lowercase + string.digits
    suffix = "".join(secrets.choice(alphabet) for _ in range(SLUG_SUFFIX_LENGTH))
    head = base[: SLUG_MAX_LENGTH - SLUG_SUFFIX_LENGTH - 1].rstrip("-")
    return f"{head}-{suffix}"


def _clean_name(name) -> str:
    if not isinstance(name, str):
        raise ValidationError({"name": ValidationError("name must be a string", code="invalid")})
    name = name.strip()
    if not name:
        raise ValidationError({"name": ValidationError("name must not be blank", code="blank")})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(
            {
                "name": ValidationError(
                    f"name must be at most {NAME_MAX_LENGTH} characters", code="max_length"
                )
            }
        )
    return name


def _clean_rate_limit(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= RATE_LIMIT_MAX:
        raise ValidationError(
            {
                "rate_limit_per_minute": ValidationError(
                    f"rate_limit_per_minute must be null or an integer between 1 and "
                    f"{RATE_LIMIT_MAX}",
                    code="invalid_rate_limit",
                )
            }
        )
    return value


def _clean_require_key(value) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(
            {"require_key": ValidationError("require_key must be true or false", code="invalid")}
        )
    return value


def _clean_store_bodies(value) -> str:
    if value not in ProxyEndpoint.StoreBodies.values:
        choices = ", ".join(ProxyEndpoint.StoreBodies.values)
        raise ValidationError(
            {"store_bodies": ValidationError(f"store_bodies must be one of {choices}", code="invalid_choice")}
        )
    return value


def _invalidate_on_commit(slug: str) -> None:
    def invalidate():
        cache.delete(proxy_endpoint_cache_key(slug=slug))

    # robust: the write has committed; a cache outage must not turn it into a 500.
    # The proxy then sees the change when its entry expires.
    transaction.on_commit(invalidate, robust=True)


def _insert(*, slug: str, **fields) -> ProxyEndpoint | None:
    """Insert, or return None if the slug was taken meanwhile (unique constraint)."""
    try:
        with transaction.atomic():
            return ProxyEndpoint.objects.create(slug=slug, **fields)
    except IntegrityError:
        if proxy_endpoint_slug_taken(slug=slug):
            return None
        raise


def _revive(*, organization: Organization, slug: str, **fields) -> ProxyEndpoint | None:
    """Bring back the organization's own deleted endpoint with this slug, if there is one."""
    tombstone = (
        ProxyEndpoint.all_objects.select_for_update()
        .filter(slug=slug, organization=organization, deleted_at__isnull=False)
        .first()
    )
    if tombstone is None:
        return None
    for name, value in fields.items():
        setattr(tombstone, name, value)
    tombstone.deleted_at = None
    tombstone.save(update_fields=[*fields, "deleted_at"])
    return tombstone


@transaction.atomic
def proxy_endpoint_create(
    *,
    organization: Organization,
    name: str,
    slug: str | None = None,
    rate_limit_per_minute: int | None = None,
    require_key: bool | None = None,
    store_bodies: str = ProxyEndpoint.StoreBodies.FULL,
) -> ProxyEndpoint:
    """Create an endpoint; without `slug`, derive a free one from the name.

    `require_key` defaults to true in hosted mode and false in local mode, where the
    proxy answers loopback only and the user is its one caller. An explicit slug of one
    of the organization's own deleted endpoints brings that endpoint back; another
    organization's, deleted or not, is taken.
    """
    fields = {
        "organization": organization,
        "name": _clean_name(name),
        "rate_limit_per_minute": _clean_rate_limit(rate_limit_per_minute),
        "require_key": (
            not settings.LOCAL_MODE if require_key is None else _clean_require_key(require_key)
        ),
        "store_bodies": _clean_store_bodies(store_bodies),
    }
    if slug is not None:
        proxy_endpoint_validate_slug(slug)
        endpoint = _revive(slug=slug, **fields)
        if endpoint is None and not proxy_endpoint_slug_taken(slug=slug):
            endpoint = _insert(slug=slug, **fields)
        if endpoint is None:
            raise _slug_error("slug already taken", "slug_taken")
    else:
        base = proxy_endpoint_slug_from_name(fields["name"])
        candidate = base
        for _ in range(SLUG_ATTEMPTS):
            endpoint = None
            if not proxy_endpoint_slug_taken(slug=candidate):
                endpoint = _insert(slug=candidate, **fields)
            if endpoint is not None:
                break
            candidate = _with_suffix(base)
        else:
            raise _slug_error("could not find a free slug; pass one explicitly", "slug_taken")
    _invalidate_on_commit(endpoint.slug)
    return endpoint


def proxy_endpoint_update(
    *,
    endpoint: ProxyEndpoint,
    name: str | Literal[Unset.UNSET] = UNSET,
    rate_limit_per_minute: int | None | Literal[Unset.UNSET] = UNSET,
    require_key: bool | Literal[Unset.UNSET] = UNSET,
    slug: str | None | Literal[Unset.UNSET] = UNSET,
    store_bodies: str | Literal[Unset.UNSET] = UNSET,
) -> ProxyEndpoint:
    """Change an endpoint's name, rate limit, lock or which bodies it keeps (the proxy
    sees it within PROXY_ENDPOINT_CACHE_SECONDS). The slug is fixed: it is in clients' URLs."""
    if slug is not UNSET and slug != endpoint.slug:
        raise _slug_error(
            "slug cannot be changed; create a new endpoint for a new URL", "slug_immutable"
        )
    changed = []
    if name is not UNSET:
        endpoint.name = _clean_name(name)
        changed.append("name")
    if rate_limit_per_minute is not UNSET:
        endpoint.rate_limit_per_minute = _clean_rate_limit(rate_limit_per_minute)
        changed.append("rate_limit_per_minute")
    if require_key is not UNSET:
        endpoint.require_key = _clean_require_key(require_key)
        changed.append("require_key")
    if store_bodies is not UNSET:
        endpoint.store_bodies = _clean_store_bodies(store_bodies)
        changed.append("store_bodies")
    if changed:
        endpoint.save(update_fields=changed)
        _invalidate_on_commit(endpoint.slug)
    return endpoint


def proxy_endpoint_delete(*, endpoint: ProxyEndpoint) -> None:
    """Delete an endpoint, keeping its tombstone: the slug is never another organization's.

    Proxied calls to it get 404 from then on; its usage logs stay where they are.
    """
    if endpoint.deleted_at is None:
        endpoint.deleted_at = timezone.now()
        endpoint.save(update_fields=["deleted_at"])
    _invalidate_on_commit(endpoint.slug)


@transaction.atomic
def local_setup() -> ProxyEndpoint:
    """Make sure local mode's `local` user, organization and endpoint exist; return the endpoint.

    The user (no usable password: it signs in through the one-time link `make run`
    prints) owns the organization, so the dashboard shows the local endpoint's calls.
    """
    from django.contrib.auth import get_user_model

    from accounts.models import Membership

    endpoint = (
        ProxyEndpoint.all_objects.select_related("organization").filter(slug=LOCAL_SLUG).first()
    )
    if endpoint is None:
        organization = Organization.objects.create(name="Local")
        # Unlocked: the local proxy answers loopback only; its user is its one caller.
        endpoint = ProxyEndpoint.objects.create(
            organization=organization, name="Local", slug=LOCAL_SLUG, require_key=False
        )
        _invalidate_on_commit(LOCAL_SLUG)
    elif endpoint.deleted_at is not None:
        endpoint.deleted_at = None
        endpoint.save(update_fields=["deleted_at"])
        _invalidate_on_commit(LOCAL_SLUG)
    user, created = get_user_model().objects.get_or_create(username=LOCAL_USERNAME)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(
        user=user, organization=endpoint.organization, defaults={"role": Membership.Role.OWNER}
    )
    return endpoint
