import os

import orjson
from celery import Celery
from kombu.serialization import register

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")

# The usage batches' serializer (usage.tasks): JSON, made by orjson. kombu's json took 0.7
# ms to encode a batch of 100 records in the web process's usage shipper, and held the GIL
# throughout, which the event loop then waited for; orjson takes 0.06 ms.
USAGE_SERIALIZER = "codecosts-json"
USAGE_CONTENT_TYPE = "application/x-codecosts-json"
register(USAGE_SERIALIZER, lambda data: orjson.dumps(data).decode(), orjson.loads, content_type=USAGE_CONTENT_TYPE)

app = Celery("codecosts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Budget states rebuilt from the usage tables every minute: after Redis lost them, and at
# a period's reset (budgets.services.budgets_refresh_all). Retention every hour: what
# expired is deleted (usage.services.retention); a run not started within the hour is
# dropped, the next one does its work.
app.conf.beat_schedule = {
    "budgets-refresh-all": {"task": "budgets.tasks.budgets_refresh_all", "schedule": 60.0},
    "usage-retention": {
        "task": "usage.tasks.usage_retention",
        "schedule": 3600.0,
        "options": {"queue": "default", "expires": 3600.0},
    },
}
