"""What runs retention (issue 15): Celery beat's hourly task, `manage.py usage_retention`,
and, for a server without beat (no REDIS_URL), a thread of the server's own."""

import sys
import threading
import time
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from codecosts.celery import app
from usage import background, pipeline
from usage.models import BodyPiece, UsageLog, UsageLogBody
from usage.tasks import usage_retention

pytestmark = pytest.mark.django_db


def expired_log(organization, days: int = 40) -> UsageLog:
    log = UsageLog.objects.create(
        id=uuid.uuid4(), organization=organization, endpoint_slug="app", provider="anthropic",
        path="/v1/messages", started_at=timezone.now() - timedelta(days=days),
    )
    UsageLogBody.objects.create(log=log, request_body=b"{}", response_body=b"{}")
    return log


def old_piece(organization) -> BodyPiece:
    return BodyPiece.objects.create(
        organization=organization, digest=uuid.uuid4().bytes, data=b"x", size=1,
        last_used=(timezone.now() - timedelta(days=90)).date(),
    )


def test_beat_runs_retention_every_hour_on_the_default_queue():
    entry = app.conf.beat_schedule["usage-retention"]
    assert entry["task"] == usage_retention.name == "usage.tasks.usage_retention"
    assert entry["schedule"] == 3600.0
    assert entry["options"]["queue"] == "default"
    # Not the usage queue (CELERY_TASK_ROUTES sends usage.tasks.* there): the task says so too.
    assert app.amqp.router.route(usage_retention._get_exec_options(), usage_retention.name)["queue"].name == "default"


def test_the_task_deletes_what_expired_and_returns_the_totals(org, other_org):
    expired_log(org)
    expired_log(other_org)
    kept = expired_log(org, days=3)
    old_piece(org)

    totals = usage_retention.apply().get()

    assert totals == {"organizations": 2, "bodies": 2, "logs": 0, "pieces": 1, "failed": 0}
    assert list(UsageLogBody.objects.values_list("log_id", flat=True)) == [kept.id]


def test_the_command_prints_a_line_per_organization_and_the_totals(org, other_org):
    expired_log(org)
    old_piece(org)
    out = StringIO()

    call_command("usage_retention", "--dry-run", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"retention 'Acme' ({org.id}): 1 bodies, 0 logs, 1 pieces to delete in ")
    assert lines[1].startswith(f"retention 'Globex' ({other_org.id}): 0 bodies, 0 logs, 0 pieces to delete in ")
    assert lines[2] == "2 organizations: 1 bodies, 0 logs, 1 pieces would be deleted (dry run: nothing deleted)."
    assert (UsageLogBody.objects.count(), BodyPiece.objects.count()) == (1, 1)

    out = StringIO()
    call_command("usage_retention", "--batch-size", "1", stdout=out)

    assert out.getvalue().splitlines()[-1] == "2 organizations: 1 bodies, 0 logs, 1 pieces deleted."
    assert (UsageLogBody.objects.count(), BodyPiece.objects.count()) == (0, 0)


def test_the_command_refuses_a_batch_size_below_one(org):
    with pytest.raises(CommandError, match="--batch-size must be positive"):
        call_command("usage_retention", "--batch-size", "0", stdout=StringIO())


def test_the_command_fails_when_an_organization_failed(org, monkeypatch):
    from usage.services import retention

    def broken(**kwargs):
        raise RuntimeError("no")

    monkeypatch.setattr(retention, "retention_run", broken)
    out = StringIO()
    with pytest.raises(CommandError, match="retention failed for 1 organizations"):
        call_command("usage_retention", stdout=out)
    assert "failed: RuntimeError('no')" in out.getvalue()


# --- A server without Celery beat ------------------------------------------------------


def test_a_server_without_redis_starts_the_retention_thread_and_one_with_does_not(settings, monkeypatch):
    started = []
    monkeypatch.setattr(background, "start", lambda: started.append(True))

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    pipeline.background_start()
    assert started == []
    settings.REDIS_URL = ""
    pipeline.background_start()
    assert started == [True]


def test_the_server_lifespan_starts_it(monkeypatch):
    from proxy import asgi, budget_gate
    from tests.asgi import lifespan_startup

    calls = []
    monkeypatch.setattr(pipeline, "start", lambda: calls.append("pipeline"))
    monkeypatch.setattr(budget_gate, "start", lambda: calls.append("budgets"))
    monkeypatch.setattr(pipeline, "background_start", lambda: calls.append("background"))
    monkeypatch.setattr(asgi, "GIL_SWITCH_SECONDS", sys.getswitchinterval())  # left as it is

    assert lifespan_startup() == ["lifespan.startup.complete"]
    assert calls == ["pipeline", "budgets", "background"]


def test_the_thread_runs_at_start_and_then_every_interval_off_the_caller(monkeypatch):
    from usage.services import retention

    runs = []
    caller = threading.get_ident()
    monkeypatch.setattr(retention, "retention_run_all", lambda: runs.append(threading.get_ident()))
    try:
        thread = background.start(interval=0.05)
        assert background.start(interval=0.05) is thread  # once per process
        deadline = time.monotonic() + 5
        while len(runs) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        background.stop()
    assert len(runs) >= 3
    assert set(runs) == {thread.ident} and caller not in runs
    assert not thread.is_alive()


def test_a_failing_run_does_not_stop_the_thread(monkeypatch):
    from usage.services import retention

    runs = []

    def flaky():
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database locked")

    monkeypatch.setattr(retention, "retention_run_all", flaky)
    try:
        background.start(interval=0.01)
        deadline = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        background.stop()
    assert len(runs) >= 2


@pytest.mark.django_db(transaction=True)
def test_the_thread_deletes_expired_bodies_in_the_database(org):
    log = expired_log(org)
    kept = expired_log(org, days=1)
    try:
        background.start(interval=3600)
        deadline = time.monotonic() + 10
        while UsageLogBody.objects.filter(log=log).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        background.stop()
    assert list(UsageLogBody.objects.values_list("log_id", flat=True)) == [kept.id]
