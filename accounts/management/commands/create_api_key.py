from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import ApiKey
from accounts.selectors import organization_get_by_name
from accounts.services import api_key_create, organization_create


class Command(BaseCommand):
    help = (
        "Create an API key for an organization (created if needed) and print the key "
        "as the last line of output."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization name.")
        parser.add_argument("--name", default="", help="A label for the key.")
        parser.add_argument(
            "--scope",
            choices=ApiKey.Scope.values,
            default=ApiKey.Scope.FULL,
            help="full: the REST API and proxied calls; proxy: only as x-codecosts-key "
            "on proxied calls (the kind to hand a developer).",
        )

    def handle(self, *args, org, name, scope, **options):
        org_name = org.strip()
        if not org_name:
            raise CommandError("--org must not be blank.")
        try:
            with transaction.atomic():
                organization = organization_get_by_name(name=org_name)
                if organization is None:
                    organization = organization_create(name=org_name)
                    self.stdout.write(
                        f'Created organization "{organization.name}" ({organization.id}).'
                    )
                else:
                    self.stdout.write(
                        f'Using organization "{organization.name}" ({organization.id}).'
                    )
                api_key, raw_key = api_key_create(organization=organization, name=name, scope=scope)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        label = f' "{api_key.name}"' if api_key.name else ""
        self.stdout.write(
            f"Created {api_key.scope} API key{label} ({api_key.display_prefix}…). "
            "Store it now: it is not shown again."
        )
        self.stdout.write(raw_key)
