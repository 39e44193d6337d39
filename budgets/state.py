"""Where every web process sees each budget's spend and whether it blocks: Redis in hosted
mode, this process in local mode.

The usage writer decides a budget's state after each batch it writes (budgets.services)
and `publish`es it: in Redis a hash per budget (expiring a day after its period) and a
message on CHANNEL that web processes subscribe to (proxy.budget_gate); locally, the
listeners of this process are called at once. A web process that loses its
subscription reads every state again (`read_all`), so a message missed is a state
read late, never a block lost.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis
from django.conf import settings

logger = logging.getLogger("codecosts.budgets")

CHANNEL = "codecosts:budget-state"
_KEY_PREFIX = "codecosts:budget-state:"
_KEEP_AFTER_PERIOD_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class BudgetState:
    """A budget's spend in its current period, and the block its hard limit sets."""

    budget_id: str
    organization_id: str
    # What the budget covers: "organization", "endpoint" (endpoint_id) or "person" (person).
    scope: str
    endpoint_id: str
    person: str
    period_start: float  # epoch seconds
    reset_at: float  # the period's end: a block lifts then
    spend_cents: str  # a decimal string, exact
    limit_cents: str
    blocked: bool
    message: str = ""  # the refusal's text, naming the budget, its period and its reset

    def covers(self, endpoint_id: str, person: str) -> bool:
        if self.scope == "endpoint":
            return self.endpoint_id == endpoint_id
        if self.scope == "person":
            return bool(person) and self.person == person
        return True

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> "BudgetState":
        return cls(**json.loads(text))


_listeners: list[Callable[[str, BudgetState | None], None]] = []
_local: dict[str, BudgetState] = {}


def listen(callback: Callable[[str, BudgetState | None], None]) -> None:
    """Local mode: call `callback(budget_id, state)` with every state published in this
    process (None: the budget is gone)."""
    _listeners.append(callback)


def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)


def publish(state: BudgetState) -> None:
    if not settings.REDIS_URL:
        _local[state.budget_id] = state
        for callback in _listeners:
            callback(state.budget_id, state)
        return
    text = state.to_json()
    key = _KEY_PREFIX + state.budget_id
    with client().pipeline(transaction=False) as pipe:
        pipe.set(key, text)
        pipe.expireat(key, int(state.reset_at) + _KEEP_AFTER_PERIOD_SECONDS)
        pipe.publish(CHANNEL, text)
        pipe.execute()


def read(budget_id: str) -> BudgetState | None:
    if not settings.REDIS_URL:
        return _local.get(budget_id)
    text = client().get(_KEY_PREFIX + budget_id)
    return BudgetState.from_json(text) if text else None


def read_all() -> list[BudgetState]:
    """Every budget's state (what a web process reads when it (re)subscribes)."""
    if not settings.REDIS_URL:
        return list(_local.values())
    connection = client()
    keys = list(connection.scan_iter(match=_KEY_PREFIX + "*", count=1000))
    return [BudgetState.from_json(text) for text in connection.mget(keys) if text] if keys else []


def forget(budget_id: str) -> None:
    """A deleted budget: its state goes, and with it any block."""
    if not settings.REDIS_URL:
        _local.pop(budget_id, None)
        for callback in _listeners:
            callback(budget_id, None)
        return
    with client().pipeline(transaction=False) as pipe:
        pipe.delete(_KEY_PREFIX + budget_id)
        pipe.publish(CHANNEL, json.dumps({"forget": budget_id}))
        pipe.execute()
