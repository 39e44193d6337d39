import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.validators import redaction_patterns_validate


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # Budgets' calendar periods (days, weeks, months) are this zone's (an IANA name).
    time_zone = models.CharField(max_length=64, default="UTC")
    # Retention (usage.services.retention): bodies are deleted after this many days, usage
    # logs after usage_retention_days (null: kept for ever); the daily totals stay.
    body_retention_days = models.PositiveIntegerField(default=30)
    usage_retention_days = models.PositiveIntegerField(null=True, blank=True)
    # The organization's own patterns (regular expressions) redacted from everything
    # stored, beside the built-in ones (usage.redaction).
    redaction_patterns = models.JSONField(default=list, blank=True, validators=[redaction_patterns_validate])
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"


class ApiKey(models.Model):
    """A Codecosts key. Only a SHA-256 digest of the key is stored.

    A `full` key manages its organization through the REST API (as its owner) and may be
    sent on proxied calls; a `proxy` key, the kind handed to a developer, is only good as
    `x-codecosts-key` on proxied calls.
    """

    PREFIX = "cc_"

    class Scope(models.TextChoices):
        FULL = "full", "Full (REST API and proxy)"
        PROXY = "proxy", "Proxy calls only"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.FULL)
    # The first characters of the key, shown in lists so a user can tell keys apart.
    display_prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self):
        return f"{self.display_prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class LoginLink(models.Model):
    """A one-time sign-in link (`make run` prints one). Only a SHA-256 digest of the token is kept."""

    LIFETIME_MINUTES = 15

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"login link for {self.user} (expires {self.expires_at:%Y-%m-%d %H:%M})"


class Invitation(models.Model):
    """An owner's invitation to join an organization, by link. Only the token's digest is kept."""

    LIFETIME_DAYS = 7

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    # Where the link was sent, if anywhere; anyone holding the link may accept it.
    email = models.EmailField(blank=True)
    role = models.CharField(
        max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self):
        return f"invitation to {self.organization} ({self.email or 'link'})"

    @property
    def is_pending(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )
