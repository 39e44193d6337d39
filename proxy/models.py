import uuid

from django.db import models

from accounts.models import Organization


class ProxyEndpoint(models.Model):
    """A named entry point (`/proxy/<slug>`) whose traffic is logged to one organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="proxy_endpoints"
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=63, unique=True)
    # Requests per minute on messages; null: RATE_LIMIT_MESSAGES_PER_MINUTE.
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at", "id"])]

    def __str__(self):
        return self.slug
