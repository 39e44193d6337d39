import uuid

from django.conf import settings
from django.db import models

from accounts.models import Organization

# Local mode's one endpoint (and the name of the user who owns its organization).
LOCAL_SLUG = "local"
LOCAL_USERNAME = "local"


class LiveEndpointManager(models.Manager):
    """Endpoints that are not deleted: what every read and the proxy see."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)

    def of(self, organization: Organization):
        """The organization's live endpoints, oldest first."""
        return self.filter(organization=organization).order_by("created_at", "id")


class ProxyEndpoint(models.Model):
    """A named entry point (`/proxy/<slug>`) whose traffic is logged to one organization.

    Deleting one keeps its row as a tombstone (`deleted_at`): a slug is in clients'
    configuration, and were it free again, another organization could claim it and
    receive the old clients' prompts. `objects` sees live endpoints only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="proxy_endpoints"
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=63, unique=True)
    # Requests per minute on messages; null: RATE_LIMIT_MESSAGES_PER_MINUTE.
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    # Proxied calls must carry one of the organization's keys in x-codecosts-key.
    require_key = models.BooleanField(default=True)

    class StoreBodies(models.TextChoices):
        FULL = "full", "Request and response"
        REQUEST_ONLY = "request_only", "Request only"
        METADATA_ONLY = "metadata_only", "Neither (usage, cost and timing only)"

    # Which bodies of its calls are kept; a call can leave out more (x-codecosts-omit).
    store_bodies = models.CharField(max_length=16, choices=StoreBodies.choices, default=StoreBodies.FULL)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = LiveEndpointManager()
    all_objects = models.Manager()

    class Meta:
        base_manager_name = "all_objects"
        indexes = [models.Index(fields=["organization", "created_at", "id"])]

    def __str__(self):
        return self.slug

    def base_url(self, request=None) -> str:
        """The base URL a client points its SDK at: PUBLIC_URL, else the request's host."""
        path = f"/proxy/{self.slug}"
        if settings.PUBLIC_URL:
            return settings.PUBLIC_URL + path
        if request is not None:
            return request.build_absolute_uri(path)
        return path
