"""What usage follows in the other apps: an organization's redaction patterns changed."""

from django.dispatch import receiver

from accounts.models import Organization
from accounts.signals import organization_changed
from usage.redaction import organization_rules_forget


@receiver(organization_changed, sender=Organization, dispatch_uid="usage_redaction_patterns")
def _organization_changed(sender, organization, fields, **kwargs):
    # This process reads them again at once; the others within RULES_CACHE_SECONDS.
    if "redaction_patterns" in fields:
        organization_rules_forget(str(organization.id))
