"""Hard limits on the hot path: is this call covered by a budget that is spent?

The usage writer decides each budget's state after every batch (budgets.services) and
publishes it (budgets.state). This process keeps the blocking ones in memory, by
organization: in hosted mode a task on the event loop follows Redis' channel (and reads
every state again whenever it (re)subscribes); in local mode the writer's thread calls
`apply` directly. Checking a call is one dictionary lookup when nothing of its
organization blocks, and no database, cache or network read ever.

If Redis is unreachable the blocks known stay in force until their reset; new ones are
learnt when it answers again (a warning is logged).
"""

import asyncio
import logging
import time

from django.conf import settings

from budgets import state as budget_state
from budgets.state import BudgetState

logger = logging.getLogger("codecosts.proxy")

# organization id -> its blocking budgets' states, by budget id.
_blocking: dict[str, dict[str, BudgetState]] = {}
_follower: asyncio.Task | None = None
RESUBSCRIBE_SECONDS = 1.0


def clock() -> float:
    """Now, in epoch seconds (tests move it to a period's end)."""
    return time.time()


def refusal(organization_id: str, endpoint_id: str, person: str) -> BudgetState | None:
    """The first spent budget covering the call, or None."""
    blocking = _blocking.get(organization_id)
    if not blocking:
        return None
    now = clock()
    for held in blocking.values():
        if held.reset_at > now and held.covers(endpoint_id, person):
            return held
    return None


def apply(budget_id: str, held: BudgetState | None) -> None:
    """A budget's new state (None: deleted). Safe from any thread (single dict writes)."""
    if held is not None and held.blocked:
        _blocking.setdefault(held.organization_id, {})[budget_id] = held
        return
    for blocking in _blocking.values():
        blocking.pop(budget_id, None)


def _replace(states: list[BudgetState]) -> None:
    fresh: dict[str, dict[str, BudgetState]] = {}
    for held in states:
        if held.blocked:
            fresh.setdefault(held.organization_id, {})[held.budget_id] = held
    _blocking.clear()
    _blocking.update(fresh)


def start() -> None:
    """At the server's start: follow budget states (hosted) or take them in-process (local)."""
    global _follower
    if not settings.REDIS_URL:
        budget_state.listen(apply)
        return
    _follower = asyncio.get_running_loop().create_task(_follow())


async def stop() -> None:
    if _follower is not None:
        _follower.cancel()


async def _follow() -> None:
    import json

    import redis.asyncio as aioredis

    warned = False
    while True:
        connection = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
        try:
            async with connection.pubsub() as pubsub:
                await pubsub.subscribe(budget_state.CHANNEL)
                # Subscribed first, then read: nothing published meanwhile is missed.
                _replace(await asyncio.to_thread(budget_state.read_all))
                warned = False
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    data = json.loads(message["data"])
                    if "forget" in data:
                        apply(data["forget"], None)
                    else:
                        held = BudgetState(**data)
                        apply(held.budget_id, held)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - keep the blocks known; try again
            if not warned:
                logger.warning("budget states unreachable (%s); known blocks stay until their reset", error)
                warned = True
        finally:
            await connection.aclose()
        await asyncio.sleep(RESUBSCRIBE_SECONDS)
