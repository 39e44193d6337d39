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

# The layout's version is in every name: a Redis shared with another version of
# Codecosts (an upgrade in progress, two checkouts on one machine) never feeds this one
# a state it cannot read.
CHANNEL = "codecosts:budget-state:2"
_KEY_PREFIX = "codecosts:budget-state:2:"
_PENDING_PREFIX = "codecosts:budget-pending:2:"
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
    def from_data(cls, data: dict) -> "BudgetState | None":
        """The state published as `data`; None (logged) for one this version cannot read."""
        try:
            return cls(**data)
        except TypeError as error:
            logger.warning("budget state ignored: %s (%.200r)", error, data)
            return None


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

# Local mode's pending calls: hash key -> {"calls": {log id: units}, "total": units}.
_local_pending: dict[str, dict] = {}


_clients: dict[str, redis.Redis] = {}


def client() -> redis.Redis:
    """This process's client of REDIS_URL (one connection pool, shared by its threads)."""
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    return _clients[url]


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
    return BudgetState.from_data(json.loads(text)) if text else None


def read_all() -> list[BudgetState]:
    """Every budget's state (what a web process reads when it (re)subscribes)."""
    if not settings.REDIS_URL:
        return [held for states in _known.values() for held in states.values()]
    connection = client()
    keys = list(connection.scan_iter(match=_KEY_PREFIX + "*", count=1000))
    states = (BudgetState.from_data(json.loads(text)) for text in connection.mget(keys) if text) if keys else ()
    return [held for held in states if held is not None]


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


# Pending costs are kept as integers of 1e-10 cents (the cost column's precision), so the
# running total is exact and one INCRBY away.
_UNITS = Decimal("1e10")

# Drop the written calls from the pending hash and their costs from its total, atomically
# (two writers settling the same calls subtract them once).
_SETTLE = """
local total = 0
for i, id in ipairs(ARGV) do
  local cost = redis.call('HGET', KEYS[1], id)
  if cost then
    redis.call('HDEL', KEYS[1], id)
    total = total + tonumber(cost)
  end
end
if total ~= 0 then
  return redis.call('INCRBY', KEYS[2], -total)
end
return tonumber(redis.call('GET', KEYS[2]) or '0')
"""


def pending_add(counted: list[tuple[BudgetState, dict[str, Decimal]]]) -> list[Decimal]:
    """Count calls ended (per budget: log id -> cents) as pending; each budget's pending
    total. One Redis round trip for them all."""
    batches = [(_pending_key(held), held, {log_id: int(cost * _UNITS) for log_id, cost in costs.items()})
               for held, costs in counted]
    if not settings.REDIS_URL:
        totals = []
        for key, _held, units in batches:
            pending = _local_pending.setdefault(key, {"calls": {}, "total": 0})
            pending["total"] += sum(units[log_id] for log_id in units if log_id not in pending["calls"])
            pending["calls"].update(units)
            totals.append(Decimal(pending["total"]) / _UNITS)
        return totals
    with client().pipeline(transaction=False) as pipe:
        for key, held, units in batches:
            expire = int(held.reset_at) + _KEEP_AFTER_PERIOD_SECONDS
            pipe.hset(key, mapping=units)
            pipe.incrby(key + ":total", sum(units.values()))
            pipe.expireat(key, expire)
            pipe.expireat(key + ":total", expire)
        replies = pipe.execute()
    return [Decimal(replies[4 * n + 1]) / _UNITS for n in range(len(batches))]


def pending_settle(held: BudgetState, written) -> Decimal:
    """Drop the pending calls whose logs are written (`written(log_ids)` says which);
    what is still pending."""
    key = _pending_key(held)
    if not settings.REDIS_URL:
        pending = _local_pending.setdefault(key, {"calls": {}, "total": 0})
        for log_id in written(list(pending["calls"])):
            pending["total"] -= pending["calls"].pop(log_id, 0)
        return Decimal(pending["total"]) / _UNITS
    connection = client()
    ids = [log_id.decode() for log_id in connection.hkeys(key)]
    done = written(ids) if ids else []
    total = connection.eval(_SETTLE, 2, key, key + ":total", *done)
    return Decimal(int(total)) / _UNITS
