"""Where every process sees each hard-limited budget's spend and whether it blocks: Redis
in hosted mode, this process in local mode.

A budget's state is published whenever its spend changes: by the usage writer after
each batch (the exact spend of the logs written, budgets.services) and, between
batches, by the web process that served a covered call, as soon as the call ends
(budgets.provisional: the call priced from its usage, kept as *pending* until its log is
written). In Redis a state is a key per budget (expiring a day after its period) and a
message on CHANNEL; every process keeps the states it has seen (`apply`, `known_for`):
web processes follow the channel (proxy.budget_gate) and read every state again when
they (re)subscribe, so a missed message is a state read late, never a block lost.
"""

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import redis
from django.conf import settings

logger = logging.getLogger("codecosts.budgets")

CHANNEL = "codecosts:budget-state"
_KEY_PREFIX = "codecosts:budget-state:"
_PENDING_PREFIX = "codecosts:budget-pending:"
_KEEP_AFTER_PERIOD_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class BudgetState:
    """A hard-limited budget in its current period: what it covers, spends and blocks."""

    budget_id: str
    organization_id: str
    name: str
    period: str  # day, week, month
    time_zone: str
    # What the budget covers: "organization", "endpoint" (endpoint_id) or "person"
    # (person, or a call with one of key_ids: the keys that name that person).
    scope: str
    endpoint_id: str
    person: str
    period_start: float  # epoch seconds
    reset_at: float  # the period's end: a block lifts then
    counted_cents: str  # the spend of the logs written (exact decimal string)
    spend_cents: str  # counted, plus the calls ended whose logs are not written yet
    limit_cents: str
    blocked: bool
    key_ids: list[str] = field(default_factory=list)

    def covers(self, endpoint_id: str, person: str, key_id: str = "") -> bool:
        if self.scope == "endpoint":
            return self.endpoint_id == endpoint_id
        if self.scope == "person":
            return key_id in self.key_ids if key_id else bool(person) and self.person == person
        return True

    def with_spend(self, spend: Decimal) -> "BudgetState":
        return replace(self, spend_cents=_cents(spend), blocked=spend >= Decimal(self.limit_cents))

    @property
    def message(self) -> str:
        """What a refused call is told: the budget, its period, its spend and its reset."""
        reset = datetime.fromtimestamp(self.reset_at, ZoneInfo(self.time_zone))
        return (
            f"Codecosts budget '{self.name}' has reached its hard limit: "
            f"{_dollars(self.spend_cents)} spent of {_dollars(self.limit_cents)} {_THIS[self.period]}. "
            f"Calls are refused until it resets at {reset:%Y-%m-%d %H:%M} {self.time_zone}."
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> "BudgetState":
        return cls(**json.loads(text))


_THIS = {"day": "today", "week": "this week", "month": "this month"}


def _dollars(cents: str) -> str:
    return f"${(Decimal(cents) / 100).quantize(Decimal('0.01'))}"


def _cents(value: Decimal) -> str:
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "0") else text


# --- What this process knows ------------------------------------------------------

# organization id -> budget id -> its latest state.
_known: dict[str, dict[str, BudgetState]] = {}
# Run (in a thread) when a local server starts: its states are rebuilt from the database
# (budgets.apps registers budgets.services.budgets_refresh_all).
on_local_start: list = []


def apply(budget_id: str, held: BudgetState | None) -> None:
    """A budget's new state (None: deleted or no longer hard-limited). Any thread may
    call it: single dictionary writes."""
    if held is not None:
        _known.setdefault(held.organization_id, {})[budget_id] = held
        return
    for states in _known.values():
        states.pop(budget_id, None)


def known_for(organization_id: str) -> dict[str, BudgetState] | None:
    return _known.get(organization_id)


def replace_all(states: list[BudgetState]) -> None:
    fresh: dict[str, dict[str, BudgetState]] = {}
    for held in states:
        fresh.setdefault(held.organization_id, {})[held.budget_id] = held
    _known.clear()
    _known.update(fresh)


# --- Shared: Redis, or this process -----------------------------------------------

_local_pending: dict[str, dict[str, Decimal]] = {}


def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)


def publish(state: BudgetState) -> None:
    if not settings.REDIS_URL:
        apply(state.budget_id, state)
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
        return next((s[budget_id] for s in _known.values() if budget_id in s), None)
    text = client().get(_KEY_PREFIX + budget_id)
    return BudgetState.from_json(text) if text else None


def read_all() -> list[BudgetState]:
    """Every budget's state (what a web process reads when it (re)subscribes)."""
    if not settings.REDIS_URL:
        return [held for states in _known.values() for held in states.values()]
    connection = client()
    keys = list(connection.scan_iter(match=_KEY_PREFIX + "*", count=1000))
    return [BudgetState.from_json(text) for text in connection.mget(keys) if text] if keys else []


def forget(budget_id: str) -> None:
    """A deleted (or no longer hard-limited) budget: its state goes, and any block."""
    if not settings.REDIS_URL:
        apply(budget_id, None)
        return
    with client().pipeline(transaction=False) as pipe:
        pipe.delete(_KEY_PREFIX + budget_id)
        pipe.publish(CHANNEL, json.dumps({"forget": budget_id}))
        pipe.execute()


def _pending_key(held: BudgetState) -> str:
    return f"{_PENDING_PREFIX}{held.budget_id}:{int(held.period_start)}"


def pending_add(held: BudgetState, costs: dict[str, Decimal]) -> Decimal:
    """Count calls ended (log id -> cents) as pending; the budget's pending total."""
    if not settings.REDIS_URL:
        pending = _local_pending.setdefault(_pending_key(held), {})
        pending.update(costs)
        return sum(pending.values(), Decimal(0))
    key = _pending_key(held)
    with client().pipeline(transaction=False) as pipe:
        pipe.hset(key, mapping={log_id: str(cost) for log_id, cost in costs.items()})
        pipe.expireat(key, int(held.reset_at) + _KEEP_AFTER_PERIOD_SECONDS)
        pipe.hvals(key)
        values = pipe.execute()[-1]
    return sum((Decimal(v.decode()) for v in values), Decimal(0))


def pending_settle(held: BudgetState, written) -> Decimal:
    """Drop the pending calls whose logs are written (`written(log_ids)` says which);
    what is still pending."""
    key = _pending_key(held)
    if not settings.REDIS_URL:
        pending = _local_pending.get(key, {})
        for log_id in written(list(pending)):
            pending.pop(log_id, None)
        return sum(pending.values(), Decimal(0))
    connection = client()
    pending = {k.decode(): Decimal(v.decode()) for k, v in connection.hgetall(key).items()}
    done = written(list(pending)) if pending else []
    if done:
        connection.hdel(key, *done)
    return sum((cost for log_id, cost in pending.items() if log_id not in set(done)), Decimal(0))
