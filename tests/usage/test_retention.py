"""Retention (usage.services.retention, issue 15): bodies go after body_retention_days,
usage logs after usage_retention_days, body pieces once no kept body can refer to them;
exactly what expired, in bounded batches, one organization at a time.

Rows are made by hand at chosen times (logs, bodies, labels, pieces with their
last_used), and retention runs at a fixed `now`, except where the daily totals must be
real: there the usage writer records the calls.
"""

import hashlib
import logging
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import usage_record
from usage.models import (
    BodyPiece,
    RetentionMark,
    Session,
    UsageDaily,
    UsageLog,
    UsageLogBody,
    UsageLogLabel,
    UsageRollup,
)
from usage.services import retention
from usage.services.daily import usage_daily_rebuild
from usage.services.logs import usage_log_record_many
from usage.services.retention import retention_run, retention_run_all
from usage.services.rollups import usage_rollup_rebuild

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
DAY = timedelta(days=1)
CUTOFF = NOW - 30 * DAY  # the default body retention: 2026-11-04 12:00 UTC


def make_log(organization, started_at: datetime, *, body: bool = True, tags=("t",)) -> UsageLog:
    log = UsageLog.objects.create(
        id=uuid.uuid4(), organization=organization, endpoint_slug="app", provider="anthropic",
        path="/v1/messages", model="claude-sonnet-4-6", status_code=200, started_at=started_at,
    )
    if body:
        UsageLogBody.objects.create(log=log, request_body=b"{}", response_body=b"{}")
    for tag in tags:
        UsageLogLabel.objects.create(
            log=log, organization=organization, kind="tag", value=tag, started_at=started_at
        )
    return log


def make_piece(organization, last_used: date, name: str = "") -> BodyPiece:
    name = name or uuid.uuid4().hex
    return BodyPiece.objects.create(
        organization=organization, digest=hashlib.blake2b(name.encode(), digest_size=16).digest(),
        data=b"x", size=1, last_used=last_used,
    )


def bodies_left(organization) -> set:
    return set(UsageLogBody.objects.filter(log__organization=organization).values_list("log_id", flat=True))


def deletes(queries, table: str) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith(f'DELETE FROM "{table}"')]


# --- Bodies ---------------------------------------------------------------------------


def test_bodies_started_before_the_cutoff_go_and_their_logs_stay(org):
    expired = make_log(org, CUTOFF - timedelta(seconds=1))
    long_ago = make_log(org, CUTOFF - 300 * DAY)
    at_cutoff = make_log(org, CUTOFF)
    recent = make_log(org, NOW - DAY)

    result = retention_run(organization=org, now=NOW)

    assert (result.bodies, result.logs) == (2, 0)
    assert bodies_left(org) == {at_cutoff.id, recent.id}
    # The logs and their labels are all still there: only the bodies went.
    assert UsageLog.objects.filter(organization=org).count() == 4
    assert set(UsageLogLabel.objects.values_list("log_id", flat=True)) == {expired.id, long_ago.id, at_cutoff.id, recent.id}


def test_the_organizations_own_retention_decides(org):
    org.body_retention_days = 7
    org.save()
    eight_days = make_log(org, NOW - 8 * DAY)
    six_days = make_log(org, NOW - 6 * DAY)

    retention_run(organization=org, now=NOW)

    assert bodies_left(org) == {six_days.id}
    assert not UsageLogBody.objects.filter(log=eight_days).exists()


def test_another_organizations_rows_are_untouched(org, other_org):
    other_org.body_retention_days = 365
    other_org.save()
    theirs = make_log(other_org, CUTOFF - 10 * DAY)
    their_piece = make_piece(other_org, (CUTOFF - 10 * DAY).date())
    make_log(org, CUTOFF - 10 * DAY)
    make_piece(org, (CUTOFF - 10 * DAY).date())

    retention_run(organization=org, now=NOW)
    assert bodies_left(other_org) == {theirs.id}
    retention_run_all(now=NOW)  # Globex's own retention keeps a year

    assert bodies_left(other_org) == {theirs.id}
    assert list(BodyPiece.objects.filter(organization=other_org)) == [their_piece]
    assert bodies_left(org) == set() and not BodyPiece.objects.filter(organization=org).exists()


def test_bodies_go_in_deletes_of_at_most_the_batch_size(org):
    for minutes in range(5):
        make_log(org, CUTOFF - timedelta(minutes=minutes + 1))
    make_log(org, CUTOFF - 2 * DAY, body=False)  # a log without a body is no DELETE of its own

    with CaptureQueriesContext(connection) as queries:
        result = retention_run(organization=org, now=NOW, batch_size=2)

    assert result.bodies == 5
    assert len(deletes(queries.captured_queries, "usage_usagelogbody")) == 3
    assert bodies_left(org) == set()


# --- Each run reads only what is new ------------------------------------------------


def test_a_run_reads_from_where_the_last_stopped_less_a_day_for_late_records(org):
    retention_run(organization=org, now=NOW)
    assert RetentionMark.objects.get(organization=org).bodies_before == CUTOFF
    # Written since: the new hour's expired call, a record spooled half a day late, and
    # one redriven weeks late (before the mark less LATE_MARGIN).
    new = make_log(org, CUTOFF + timedelta(minutes=30))
    late = make_log(org, CUTOFF - timedelta(hours=12))
    very_late = make_log(org, CUTOFF - 20 * DAY)

    result = retention_run(organization=org, now=NOW + timedelta(hours=1))

    assert result.bodies == 2
    assert bodies_left(org) == {very_late.id}
    assert not UsageLogBody.objects.filter(log__in=[new, late]).exists()
    assert RetentionMark.objects.get(organization=org).bodies_before == CUTOFF + timedelta(hours=1)
    # --full (manage.py usage_retention --full) looks at every old log.
    assert retention_run(organization=org, now=NOW + timedelta(hours=1), full=True).bodies == 1
    assert bodies_left(org) == set()


def test_the_window_query_is_bounded_below_by_the_mark(org):
    retention_run(organization=org, now=NOW)

    with CaptureQueriesContext(connection) as queries:
        retention_run(organization=org, now=NOW + timedelta(hours=1))

    reads = [q["sql"] for q in queries.captured_queries if 'FROM "usage_usagelog" INNER JOIN' in q["sql"]]
    assert reads and all('"usage_usagelog"."started_at" >=' in sql for sql in reads)


def test_a_longer_retention_set_later_does_not_move_the_mark_back(org):
    retention_run(organization=org, now=NOW)
    org.body_retention_days = 90
    org.save()
    kept = make_log(org, NOW - 60 * DAY)  # expired under 30 days, kept under 90

    retention_run(organization=org, now=NOW + DAY)

    assert bodies_left(org) == {kept.id}
    assert RetentionMark.objects.get(organization=org).bodies_before == CUTOFF


# --- Pieces -----------------------------------------------------------------------------


def test_pieces_unused_since_a_day_before_the_cutoff_go_and_the_others_stay(org):
    # The cutoff is 2026-11-04 12:00 UTC: pieces last used before 2026-11-03 go.
    old = make_piece(org, date(2026, 11, 2))
    margin = make_piece(org, date(2026, 11, 3))
    cutoff_day = make_piece(org, date(2026, 11, 4))
    # Shared with a kept call: whatever old calls used it too, its last use is recent.
    shared = make_piece(org, date(2026, 12, 3))
    make_log(org, CUTOFF - 40 * DAY)
    live = make_log(org, datetime(2026, 12, 3, 9, tzinfo=UTC))

    result = retention_run(organization=org, now=NOW)

    assert result.pieces == 1
    assert set(BodyPiece.objects.all()) == {margin, cutoff_day, shared}
    assert not BodyPiece.objects.filter(pk=old.pk).exists()
    assert bodies_left(org) == {live.id}


def test_a_piece_used_again_since_it_was_selected_stays(org, monkeypatch):
    piece = make_piece(org, date(2026, 10, 1))
    real_filter = BodyPiece.objects.filter

    def selected_then_used(*args, **kwargs):
        # Between the SELECT and the DELETE, a new call used the piece (the writer
        # raised its last_used): the DELETE checks again and leaves it.
        if "pk__in" in kwargs:
            BodyPiece.objects.filter(pk=piece.pk).update(last_used=date(2026, 12, 4))
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(BodyPiece.objects, "filter", selected_then_used)

    assert retention_run(organization=org, now=NOW).pieces == 0
    assert BodyPiece.objects.get(pk=piece.pk).last_used == date(2026, 12, 4)


def test_pieces_go_in_deletes_of_at_most_the_batch_size(org):
    for day in range(1, 6):
        make_piece(org, date(2026, 10, day))

    with CaptureQueriesContext(connection) as queries:
        assert retention_run(organization=org, now=NOW, batch_size=2).pieces == 5

    assert len(deletes(queries.captured_queries, "usage_bodypiece")) == 3
    assert not BodyPiece.objects.exists()


# --- Usage logs -------------------------------------------------------------------------


def test_logs_older_than_usage_retention_go_with_their_bodies_and_labels(org):
    org.usage_retention_days = 90
    org.save()
    gone = make_log(org, NOW - 91 * DAY)
    gone_without_body = make_log(org, NOW - 200 * DAY, body=False)
    bodiless = make_log(org, NOW - 60 * DAY)  # its body expired, the log stays
    kept = make_log(org, NOW - 10 * DAY)

    result = retention_run(organization=org, now=NOW)

    assert (result.logs, result.bodies) == (2, 2)
    assert set(UsageLog.objects.values_list("id", flat=True)) == {bodiless.id, kept.id}
    assert bodies_left(org) == {kept.id}
    assert not UsageLogLabel.objects.filter(log_id__in=[gone.id, gone_without_body.id]).exists()
    assert UsageLogLabel.objects.count() == 2
    assert RetentionMark.objects.get(organization=org).logs_before == NOW - 90 * DAY


def test_logs_go_in_bounded_batches(org):
    org.usage_retention_days = 90
    org.save()
    for hours in range(5):
        make_log(org, NOW - 100 * DAY - timedelta(hours=hours))

    with CaptureQueriesContext(connection) as queries:
        assert retention_run(organization=org, now=NOW, batch_size=2).logs == 5

    assert len(deletes(queries.captured_queries, "usage_usagelog")) == 3
    assert not UsageLog.objects.exists()


def test_the_daily_totals_rollups_and_session_totals_stay_even_through_a_rebuild(endpoint):
    org = endpoint.organization
    org.body_retention_days, org.usage_retention_days = 30, 60
    org.save()
    old = datetime(2026, 9, 1, 15, tzinfo=UTC)  # 94 days before NOW
    usage_log_record_many(
        records=[
            usage_record(endpoint=endpoint, started_at=(old + timedelta(minutes=n)).timestamp(), session_name="Sprint")
            for n in range(3)
        ]
        + [usage_record(endpoint=endpoint, started_at=(NOW - DAY).timestamp(), session_name="Today")]
    )
    daily = list(UsageDaily.objects.order_by("day").values("day", "calls", "cost_cents"))
    rollups = list(UsageRollup.objects.order_by("day", "dimension", "key").values("day", "dimension", "key", "calls"))
    sessions = dict(Session.objects.values_list("name", "calls"))
    assert [row["calls"] for row in daily] == [3, 1]

    result = retention_run(organization=org, now=NOW)

    assert (result.logs, result.bodies) == (3, 3)
    assert UsageLog.objects.count() == 1
    assert list(UsageDaily.objects.order_by("day").values("day", "calls", "cost_cents")) == daily
    assert dict(Session.objects.values_list("name", "calls")) == sessions
    # A rebuild from the logs (recompute_costs) must not wipe the days whose logs went.
    usage_daily_rebuild()
    usage_rollup_rebuild()
    assert list(UsageDaily.objects.order_by("day").values("day", "calls", "cost_cents")) == daily
    assert list(UsageRollup.objects.order_by("day", "dimension", "key").values("day", "dimension", "key", "calls")) == rollups


def test_a_dry_run_counts_and_deletes_nothing(org):
    org.usage_retention_days = 90
    org.save()
    make_log(org, NOW - 100 * DAY)  # a log and its body
    make_log(org, NOW - 40 * DAY)  # a body
    make_piece(org, date(2026, 1, 1))

    result = retention_run(organization=org, now=NOW, dry_run=True)

    assert (result.bodies, result.logs, result.pieces) == (2, 1, 1)
    assert "2 bodies, 1 logs, 1 pieces to delete" in result.line()
    assert (UsageLog.objects.count(), UsageLogBody.objects.count(), BodyPiece.objects.count()) == (2, 2, 1)
    assert not RetentionMark.objects.exists()


# --- Every organization ----------------------------------------------------------------


def test_every_organization_gets_a_progress_line_and_one_failing_stops_no_other(org, other_org, monkeypatch, caplog):
    make_log(org, CUTOFF - DAY)
    make_log(other_org, CUTOFF - DAY)
    real_run = retention.retention_run

    def failing_for_acme(*, organization, **kwargs):
        if organization.pk == org.pk:
            raise RuntimeError("disk full")
        return real_run(organization=organization, **kwargs)

    monkeypatch.setattr(retention, "retention_run", failing_for_acme)
    reported = []

    with caplog.at_level(logging.INFO, logger="codecosts.usage"):
        results = retention_run_all(now=NOW, report=reported.append)

    assert [(r.organization, r.bodies, bool(r.error)) for r in results] == [("Acme", 0, True), ("Globex", 1, False)]
    assert reported == results
    lines = [record.getMessage() for record in caplog.records]
    assert f"retention 'Globex' ({other_org.pk}): 1 bodies, 0 logs, 0 pieces deleted in" in " ".join(lines)
    assert any("failed: RuntimeError('disk full')" in line for line in lines)
    assert lines[-1].startswith("retention: 2 organizations, 1 bodies, 0 logs, 0 pieces deleted in")
    assert lines[-1].endswith(", 1 failed")


def test_recompute_costs_leaves_the_totals_of_a_session_whose_old_logs_went(endpoint):
    from io import StringIO

    from django.core.management import call_command

    org = endpoint.organization
    org.usage_retention_days = 60
    org.save()
    usage_log_record_many(
        records=[
            usage_record(endpoint=endpoint, started_at=(NOW - 70 * DAY).timestamp(), session_name="Long"),
            usage_record(endpoint=endpoint, started_at=(NOW - DAY).timestamp(), session_name="Long"),
        ]
    )
    session = Session.objects.get(name="Long")
    total = session.cost_cents
    retention_run(organization=org, now=NOW)
    # The kept log's cost is stale: recompute_costs reprices it and would then set the
    # session's total to the sum of the logs left, forgetting the deleted one's.
    UsageLog.objects.update(cost_cents=0)

    call_command("recompute_costs", stdout=StringIO(), stderr=StringIO())

    assert UsageLog.objects.get().cost_cents > 0
    session.refresh_from_db()
    assert session.cost_cents == total


def test_with_the_real_body_store_shared_pieces_survive_and_kept_requests_rebuild_exactly(endpoint):
    from tests.bodies_corpus import session_bodies
    from tests.factories import stored_request
    from usage.bodystore.recent import RecentPieces
    from usage.bodystore.split import split
    from usage.records import record_from_payload, record_to_payload

    org = endpoint.organization
    first, second = session_bodies(seed=21, turns=2)
    other = session_bodies(seed=22, turns=1)[0]  # another conversation, used only long ago
    recent = RecentPieces()

    def write(body, started_at):
        record = usage_record(endpoint=endpoint, request_body=body, request_size=len(body), started_at=started_at.timestamp())
        usage_log_record_many(records=[record_from_payload(record_to_payload(record, recent))])
        return UsageLog.objects.get(id=record.id)

    old = write(first, NOW - 40 * DAY)
    write(other, NOW - 40 * DAY)
    kept = write(second, NOW - DAY)  # the same system prompt, tools and first messages, and more
    digests = lambda body: {digest for _, digest, _ in split(body).pieces}  # noqa: E731
    shared, only_old = digests(first) & digests(second), digests(other) - digests(second)
    assert shared and only_old

    result = retention_run(organization=org, now=NOW)

    assert result.bodies == 2 and result.pieces == len(only_old | (digests(first) - digests(second)))
    left = {bytes(d) for d in BodyPiece.objects.filter(organization=org).values_list("digest", flat=True)}
    assert left == digests(second)
    assert not UsageLogBody.objects.filter(log=old).exists()
    kept.refresh_from_db()
    assert stored_request(kept) == second  # every piece it needs is still there
