"""Budget states in a Redis that other versions of Codecosts share."""

import json
import uuid

import pytest
import redis
from django.conf import settings

from budgets import state
from budgets.state import BudgetState


@pytest.fixture
def shared_redis():
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: the states shared between processes live in Redis")
    connection = redis.Redis.from_url(settings.REDIS_URL)
    written = []
    yield connection, written
    if written:
        connection.delete(*written)


def a_state(**fields) -> BudgetState:
    values = dict(
        budget_id=str(uuid.uuid4()), organization_id=str(uuid.uuid4()), name="Team daily", period="day",
        time_zone="UTC", scope="organization", endpoint_id="", person="", period_start=0.0,
        reset_at=4102444800.0, counted_cents="1", spend_cents="1", limit_cents="1", blocked=True,
    )
    return BudgetState(**{**values, **fields})


def test_a_state_this_version_cannot_read_is_skipped_and_the_others_still_block(shared_redis, caplog):
    """A state written by another layout (here: an extra field, a missing one) is logged
    and ignored; it no longer makes every state unreadable, which left a web process
    blocking nothing."""
    connection, written = shared_redis
    good = a_state()
    state.publish(good)
    written.append(state._KEY_PREFIX + good.budget_id)
    stale = {**json.loads(a_state().to_json()), "message": "from another version"}
    broken = json.loads(a_state().to_json())
    del broken["limit_cents"]
    for data in (stale, broken):
        key = state._KEY_PREFIX + data["budget_id"]
        connection.set(key, json.dumps(data))
        written.append(key)

    states = {held.budget_id: held for held in state.read_all()}

    assert states[good.budget_id] == good
    assert stale["budget_id"] not in states and broken["budget_id"] not in states
    assert state.read(stale["budget_id"]) is None
    assert caplog.text.count("budget state ignored") == 3
