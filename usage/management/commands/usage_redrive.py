"""Replay the usage records kept as dead letters (usage.dead_letters).

    python manage.py usage_redrive

Each record is written straight to the database, as the worker would write it; one
that fails again stays a dead letter. Prints its progress and a last line with the
totals; exits 1 when some record failed again.
"""

from django.core.management.base import BaseCommand, CommandError

from usage.dead_letters import redrive
from usage.records import record_from_payload
from usage.services.logs import usage_log_record_many

PROGRESS_EVERY = 1000


def _write(payloads: list[dict]) -> None:
    usage_log_record_many(records=[record_from_payload(payload) for payload in payloads], missing_ok=True)


class Command(BaseCommand):
    help = "Replay usage records kept as dead letters; those failing again are kept."

    def handle(self, *args, **options):
        replayed = failed = 0
        for replayed, failed in redrive(_write):
            if (replayed + failed) % PROGRESS_EVERY == 0:
                self.stdout.write(f"... {replayed} replayed, {failed} failed again")
        if failed:
            raise CommandError(f"{replayed} replayed; {failed} failed again and are still kept.")
        self.stdout.write(f"{replayed} replayed; no dead letter left.")
