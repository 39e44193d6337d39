"""Delete what the organizations' retention lets go, now (Celery beat does it hourly).

    python manage.py usage_retention [--dry-run] [--full] [--batch-size N]

Prints a line per organization (bodies, logs and body pieces deleted, and the time it
took) and a last line with the totals; exits 1 when an organization failed. --dry-run
counts instead (one COUNT per kind and organization) and deletes nothing. --full reads
every old log for bodies left behind, not only those started since the last run: after
`usage_redrive` has written records older than a day, say.
"""

from django.core.management.base import BaseCommand, CommandError

from usage.services.retention import BATCH_SIZE, retention_run_all


class Command(BaseCommand):
    help = "Delete the bodies, usage logs and body pieces whose retention ended."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
        parser.add_argument(
            "--full", action="store_true", help="look at every old log, not only those since the last run"
        )
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help=f"rows per DELETE (default {BATCH_SIZE})"
        )

    def handle(self, *args, dry_run=False, full=False, batch_size=BATCH_SIZE, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be positive")
        results = retention_run_all(
            batch_size=batch_size,
            dry_run=dry_run,
            full=full,
            report=lambda result: self.stdout.write(result.line()),
        )
        verb = "would be deleted (dry run: nothing deleted)" if dry_run else "deleted"
        self.stdout.write(
            f"{len(results)} organizations: {sum(r.bodies for r in results)} bodies, "
            f"{sum(r.logs for r in results)} logs, {sum(r.pieces for r in results)} pieces {verb}."
        )
        failed = [result for result in results if result.error]
        if failed:
            raise CommandError(f"retention failed for {len(failed)} organizations (see above).")
