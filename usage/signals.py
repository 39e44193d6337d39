"""What the usage writer tells other apps."""

from django.dispatch import Signal

# Sent with `logs` (the UsageLog rows just written) once a batch's transaction commits;
# in local mode's web process, with what the writer process wrote (usage.outbox.WrittenLog:
# organization_id, endpoint_id, person, cost_cents).
# Receivers must not raise: the logs are written whatever they do.
usage_logs_written = Signal()
