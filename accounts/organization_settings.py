"""An organization's own settings, changed by its owners through `PATCH /api/organization`
and the Settings page's form alike: its name, time zone, how long bodies and usage logs
are kept (usage.services.retention deletes what expired) and its redaction patterns.

Retention is in whole days: bodies 1 to 3650 (ten years), usage logs 1 to 36500 or none
(kept for ever, the default). Usage is never kept for less than bodies: a call's bodies go
with its log, so a shorter usage retention would silently shorten the body retention too;
such a pair is refused with a message saying so, rather than adjusted.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Organization
from accounts.services import organization_name_clean, time_zone_clean
from accounts.signals import organization_changed
from accounts.validators import redaction_patterns_validate

BODY_RETENTION_DAYS = (1, 3650)
USAGE_RETENTION_DAYS = (1, 36500)


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


# The default of each setting: leave it as it is.
UNCHANGED = _Unchanged()


def _days(value, field: str, bounds: tuple[int, int], *, allow_none: bool):
    low, high = bounds
    if value is None and allow_none:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    message = f"{field} must be a whole number of days from {low} to {high}"
    if allow_none:
        message += ", or none to keep usage logs for ever"
    raise ValidationError({field: message}, code="invalid")


def organization_settings_update(
    *,
    organization: Organization,
    name=UNCHANGED,
    time_zone=UNCHANGED,
    body_retention_days=UNCHANGED,
    usage_retention_days=UNCHANGED,
    redaction_patterns=UNCHANGED,
) -> Organization:
    """Change the settings given (the others stay); every faulty one is reported at once,
    field by field, and then nothing changes. Return the organization as saved."""
    given = {
        "name": name,
        "time_zone": time_zone,
        "body_retention_days": body_retention_days,
        "usage_retention_days": usage_retention_days,
        "redaction_patterns": redaction_patterns,
    }
    given = {field: value for field, value in given.items() if value is not UNCHANGED}
    clean = {
        "name": organization_name_clean,
        "time_zone": time_zone_clean,
        "body_retention_days": lambda v: _days(v, "body_retention_days", BODY_RETENTION_DAYS, allow_none=False),
        "usage_retention_days": lambda v: _days(v, "usage_retention_days", USAGE_RETENTION_DAYS, allow_none=True),
        "redaction_patterns": _patterns,
    }
    values, errors = {}, {}
    for field, value in given.items():
        try:
            values[field] = clean[field](value)
        except ValidationError as error:
            errors[field] = error.message_dict[field] if hasattr(error, "error_dict") else error.messages
    if errors:
        raise ValidationError(errors, code="invalid")
    with transaction.atomic():
        # Locked, so two changes at once cannot leave usage kept for less than bodies.
        fresh = Organization.objects.select_for_update().get(pk=organization.pk)
        body_days = values.get("body_retention_days", fresh.body_retention_days)
        usage_days = values.get("usage_retention_days", fresh.usage_retention_days)
        if usage_days is not None and usage_days < body_days:
            field = "usage_retention_days" if "usage_retention_days" in values else "body_retention_days"
            message = (
                f"usage_retention_days ({usage_days}) must be at least body_retention_days "
                f"({body_days}): a call's bodies are deleted with its log, so they cannot be "
                "kept longer than it"
            )
            raise ValidationError({field: ValidationError(message, code="retention_order")})
        changed = [field for field, value in values.items() if getattr(fresh, field) != value]
        for field in changed:
            setattr(fresh, field, values[field])
        if changed:
            fresh.save(update_fields=changed)
            fields = frozenset(changed)
            transaction.on_commit(
                lambda: organization_changed.send(sender=Organization, organization=fresh, fields=fields)
            )
    return fresh


def _patterns(patterns) -> list[str]:
    redaction_patterns_validate(patterns)
    return list(patterns)
