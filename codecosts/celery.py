import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codecosts.settings")

app = Celery("codecosts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Budget states rebuilt from the usage tables every minute: after Redis lost them, and at
# a period's reset (budgets.services.budgets_refresh_all).
app.conf.beat_schedule = {
    "budgets-refresh-all": {"task": "budgets.tasks.budgets_refresh_all", "schedule": 60.0},
}
