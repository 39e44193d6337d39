"""What budgets tell the rest of the app."""

from django.dispatch import Signal

# Sent with `delivery_ids` (AlertDelivery) once the alerts of crossed thresholds commit;
# budgets.receivers hands each to Celery (budgets.tasks.alert_deliver).
alert_deliveries_opened = Signal()
