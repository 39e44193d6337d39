import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from usage.models import Session, UsageDaily, UsageLog, UsageRollup

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(endpoint):
    return Session.objects.create(
        organization=endpoint.organization,
        endpoint=endpoint,
        name="refactor",
        started_at=datetime(2026, 11, 1, tzinfo=UTC),
        cost_cents=Decimal("999"),
    )


def make_log(endpoint, *, started_at, provider="anthropic", **fields):
    fields.setdefault("cost_cents", Decimal("123.45"))
    return UsageLog.objects.create(
        id=uuid.uuid4(),
        organization=endpoint.organization,
        endpoint=endpoint,
        endpoint_slug=endpoint.slug,
        provider=provider,
        path="/v1/messages" if provider == "anthropic" else "/v1/chat/completions",
        started_at=started_at,
        **fields,
    )


def recompute(*args):
    out, err = StringIO(), StringIO()
    call_command("recompute_costs", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_it_reprices_logs_from_their_stored_tokens(endpoint):
    basic = make_log(
        endpoint,
        started_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
        model="claude-sonnet-4-6",
        input_tokens=2095,
        output_tokens=503,
        cost_cents=None,
    )
    web_us = make_log(
        endpoint,
        started_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
        model="claude-opus-4-8",
        input_tokens=10450,
        output_tokens=820,
        web_search_requests=3,
        web_fetch_requests=1,
        inference_geo="us",
    )
    openai = make_log(
        endpoint,
        provider="openai",
        started_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
        model="gpt-4.1-2025-04-14",
        # Stored as the meter splits prompt_tokens=1200 with cached_tokens=1024.
        input_tokens=176,
        cache_read_tokens=1024,
        output_tokens=300,
        cost_cents=Decimal("0"),
    )
    from_request_model = make_log(
        endpoint,
        provider="openai",
        started_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
        request_model="gpt-4o-mini",
        input_tokens=19,
        output_tokens=10,
    )

    recompute()

    for log, cents in [
        (basic, "1.383"),
        (web_us, "11.0025"),
        (openai, "0.3264"),
        (from_request_model, "0.000885"),
    ]:
        log.refresh_from_db()
        assert log.cost_cents == Decimal(cents), log.model or log.request_model
        assert log.unpriced is False


def test_each_log_is_priced_at_its_own_start_time(endpoint):
    cache = dict(
        model="claude-sonnet-5-5",
        input_tokens=50,
        output_tokens=420,
        cache_write_tokens=3000,
        cache_write_5m_tokens=1000,
        cache_write_1h_tokens=2000,
        cache_read_tokens=20000,
    )
    launch_week = make_log(endpoint, started_at=datetime(2026, 10, 1, tzinfo=UTC), **cache)
    later = make_log(endpoint, started_at=datetime(2026, 11, 1, tzinfo=UTC), **cache)

    recompute()

    launch_week.refresh_from_db()
    later.refresh_from_db()
    assert launch_week.cost_cents == Decimal("1.88")
    assert later.cost_cents == Decimal("1.68")


def test_cache_writes_kept_only_as_a_total_are_priced_as_5_minute_writes(endpoint):
    log = make_log(
        endpoint,
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        model="claude-sonnet-4-6",
        cache_write_tokens=1_000_000,
    )

    recompute()

    log.refresh_from_db()
    assert log.cost_cents == Decimal("375")


def test_since_leaves_older_logs_alone(endpoint):
    old = make_log(
        endpoint,
        started_at=datetime(2026, 11, 9, 23, 59, tzinfo=UTC),
        model="claude-sonnet-4-6",
        input_tokens=1000,
    )
    new = make_log(
        endpoint,
        started_at=datetime(2026, 11, 10, tzinfo=UTC),
        model="claude-sonnet-4-6",
        input_tokens=1000,
    )

    output = recompute("--since", "2026-11-10")

    old.refresh_from_db()
    new.refresh_from_db()
    assert old.cost_cents == Decimal("123.45")
    assert new.cost_cents == Decimal("0.3")
    assert output.startswith("1 logs seen, 1 changed, 0 unpriced")


def test_an_unknown_model_becomes_unpriced_with_no_cost(endpoint):
    log = make_log(
        endpoint,
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        model="claude-imaginary-9",
        input_tokens=1000,
        output_tokens=10,
    )

    output = recompute()

    log.refresh_from_db()
    assert log.cost_cents is None
    assert log.unpriced is True
    assert "1 unpriced" in output


def test_a_log_without_usage_stays_costless_but_is_not_unpriced(endpoint):
    log = make_log(
        endpoint,
        provider="openai",
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        model="gpt-4o-mini",
        usage_missing=True,
        cost_cents=Decimal("0"),
        unpriced=True,
    )

    recompute()

    log.refresh_from_db()
    assert log.cost_cents is None
    assert log.unpriced is False


def test_a_refused_call_stays_free_even_for_a_model_the_table_lacks(endpoint):
    log = make_log(
        endpoint,
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        request_model="claude-typo-4",
        status_code=400,
        outcome=UsageLog.Outcome.UPSTREAM_ERROR,
        cost_cents=Decimal("0"),
    )

    output = recompute()

    log.refresh_from_db()
    assert log.cost_cents == 0
    assert log.unpriced is False
    assert output.startswith("1 logs seen, 0 changed, 0 unpriced")


def test_a_priced_again_model_loses_its_unpriced_flag(endpoint):
    log = make_log(
        endpoint,
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        model="claude-haiku-4-5-20251001",
        input_tokens=25,
        output_tokens=15,
        cost_cents=None,
        unpriced=True,
    )

    recompute()

    log.refresh_from_db()
    assert log.cost_cents == Decimal("0.01")
    assert log.unpriced is False


def test_session_totals_are_recomputed_from_their_logs(endpoint, session):
    untouched = Session.objects.create(
        organization=endpoint.organization,
        name="other",
        started_at=datetime(2026, 11, 1, tzinfo=UTC),
        cost_cents=Decimal("7"),
    )
    for tokens in (1000, 2000):
        make_log(
            endpoint,
            session=session,
            started_at=datetime(2026, 11, 20, tzinfo=UTC),
            model="claude-sonnet-4-6",
            input_tokens=tokens,
        )
    make_log(
        endpoint,
        session=session,
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        model="claude-imaginary-9",
        input_tokens=1000,
    )

    output = recompute()

    session.refresh_from_db()
    untouched.refresh_from_db()
    # 3,000 input tokens at $3/MTok; the unpriced call adds nothing.
    assert session.cost_cents == Decimal("0.9")
    assert untouched.cost_cents == Decimal("7")
    assert output == (
        "3 logs seen, 3 changed, 1 unpriced, 1 session totals updated, 2 daily totals and "
        "5 rollups rebuilt.\n"
    )
    # And the rollups (one row each for no person, class, agent type and tag; the session).
    by_session = UsageRollup.objects.get(dimension="session", key=str(session.id))
    assert (by_session.calls, by_session.cost_cents) == (3, Decimal("0.9"))
    # The dashboards' daily totals follow the new prices: one row per model that day.
    daily = {row.model: row for row in UsageDaily.objects.filter(day=date(2026, 11, 20))}
    assert daily["claude-sonnet-4-6"].cost_cents == Decimal("0.9")
    assert (daily["claude-sonnet-4-6"].calls, daily["claude-sonnet-4-6"].input_tokens) == (2, 3000)
    assert (daily["claude-imaginary-9"].unpriced_calls, daily["claude-imaginary-9"].cost_cents) == (1, 0)


def test_it_walks_every_batch(endpoint):
    logs = [
        make_log(
            endpoint,
            started_at=datetime(2026, 11, 20, tzinfo=UTC),
            model="claude-sonnet-4-6",
            output_tokens=1000 * (i + 1),
        )
        for i in range(5)
    ]

    output = recompute("--batch-size", "2")

    assert output.startswith("5 logs seen, 5 changed")
    for i, log in enumerate(logs):
        log.refresh_from_db()
        assert log.cost_cents == Decimal("1.5") * (i + 1)


def test_a_second_run_changes_nothing(endpoint):
    make_log(
        endpoint,
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        model="gpt-5-mini-2025-08-07",
        provider="openai",
        input_tokens=456,
        cache_read_tokens=1024,
        output_tokens=612,
    )

    recompute()
    output = recompute()

    assert output.startswith("1 logs seen, 0 changed")


def test_a_dry_run_writes_nothing(endpoint, session):
    log = make_log(
        endpoint,
        session=session,
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        model="claude-sonnet-4-6",
        input_tokens=1000,
    )

    output = recompute("--dry-run")

    log.refresh_from_db()
    session.refresh_from_db()
    assert log.cost_cents == Decimal("123.45")
    assert session.cost_cents == Decimal("999")
    assert output == (
        "1 logs seen, 1 would change, 0 unpriced, 1 session totals to update. "
        "Dry run: nothing written.\n"
    )


def test_a_malformed_since_is_refused():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("recompute_costs", "--since", "last week", stdout=StringIO())
