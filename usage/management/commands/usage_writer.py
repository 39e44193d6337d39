"""Local mode's usage writer (usage.writer), what `manage.py serve` runs beside itself.

    python manage.py usage_writer [--parent PID]

Writes the usage batches web processes leave in USAGE_SPOOL_DIR/outbox until SIGTERM,
or until the process `--parent` names is gone.
"""

from django.core.management.base import BaseCommand

from usage.writer import serve


class Command(BaseCommand):
    help = "Write the usage batches local web processes leave in the outbox."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--parent", type=int, help="Stop when this process is gone.")

    def handle(self, *args, parent=None, **options):
        serve(parent_pid=parent)
