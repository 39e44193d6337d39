"""What accounts tell the other apps, which it never imports (they listen)."""

from django.dispatch import Signal

# Sent with `organization` and `fields` (the names of the settings that changed: "name",
# "time_zone", "body_retention_days", "usage_retention_days", "redaction_patterns") once
# the change commits (accounts.organization_settings). Budgets follow the time zone.
# Receivers must not raise: the change is made whatever they do.
organization_changed = Signal()
