import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")

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
