"""Where an organization's budget alerts go: destinations added (validated: an email
address, or a webhook or Slack URL that is safe to call) and removed."""

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from budgets import outbound
from budgets.models import AlertDestination


def alert_destination_target_clean(*, kind: str, target: str) -> str:
    """The target of a destination of `kind`, cleaned, or a ValidationError naming the field.

    Email: one valid address. Webhook and Slack: an http(s) URL that, in hosted mode
    (ALERT_WEBHOOKS_ALLOW_PRIVATE off), resolves only to public addresses
    (budgets.outbound; checked again at every send).
    """
    if kind not in AlertDestination.Kind.values:
        choices = ", ".join(AlertDestination.Kind.values)
        raise ValidationError({"kind": ValidationError(f"kind must be one of {choices}", code="invalid_kind")})
    target = (target or "").strip()
    if not target:
        raise ValidationError({"target": ValidationError("target is required", code="required")})
    if kind == AlertDestination.Kind.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise ValidationError(
                {"target": ValidationError("target is not a valid email address", code="invalid_email")}
            ) from None
        return target
    try:
        outbound.target_check(target)
    except outbound.UnsafeTarget as exc:
        raise ValidationError({"target": ValidationError(str(exc), code=exc.code)}) from None
    return target


def alert_destination_create(*, organization, kind: str, target: str) -> AlertDestination:
    """Add where the organization's budget alerts go; a webhook gets its signing secret."""
    target = alert_destination_target_clean(kind=kind, target=target)
    secret = secrets.token_hex(24) if kind == AlertDestination.Kind.WEBHOOK else ""
    return AlertDestination.objects.create(
        organization=organization, kind=kind, target=target, secret=secret
    )


def alert_destination_delete(*, destination: AlertDestination) -> None:
    """Stop sending alerts there; its deliveries (and their log) go with it."""
    destination.delete()
