from datetime import UTC, datetime

import pytest

from codecosts.keyset import CursorError, cursor_decode, cursor_encode, keyset_after
from usage.models import UsageLog

AT = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


def test_a_cursor_round_trips():
    assert cursor_decode(cursor_encode(AT, "abc")) == (AT, "abc")


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90LWEtY3Vyc29y", cursor_encode(AT, "")])
def test_a_foreign_cursor_is_refused(cursor):
    with pytest.raises(CursorError):
        cursor_decode(cursor)


def test_the_next_page_condition_carries_an_index_range_bound():
    """Without the plain `started_at <= T`, PostgreSQL scans every earlier page's rows."""
    sql = str(UsageLog.objects.filter(keyset_after("started_at", AT, 7, descending=True)).query)
    where = sql.split("WHERE", 1)[1]
    assert '"started_at" <= ' in where
    assert '"started_at" < ' in where
    ascending = str(UsageLog.objects.filter(keyset_after("started_at", AT, 7, descending=False)).query)
    assert '"started_at" >= ' in ascending.split("WHERE", 1)[1]
