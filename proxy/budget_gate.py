"""Hard limits on the hot path: is this call covered by a budget that is spent?

Budget states are published by the usage writer and by the web processes as calls end
(budgets.state, budgets.provisional); each process keeps them in memory. In hosted mode
a task on the event loop follows Redis' channel and reads every state again whenever it
(re)subscribes; in local mode this process publishes them itself. Checking a call is
one dictionary lookup when its organization has no hard-limited budget, and never a
database, cache or network read.

If Redis is unreachable the states known stay, so blocks hold until their reset; new
ones are learnt when it answers again (a warning is logged).
"""

import asyncio
import json
import logging
import time

from django.conf import settings

from budgets import state as budget_state
from budgets.state import BudgetState

logger = logging.getLogger("codecosts.proxy")

_follower: asyncio.Task | None = None
RESUBSCRIBE_SECONDS = 1.0


def clock() -> float:
    """Now, in epoch seconds (tests move it to a period's end)."""
    return time.time()


def blocks_in(organization_id: str) -> bool:
    """Whether any budget of the organization blocks (in some scope) right now."""
    known = budget_state.known_for(organization_id)
    return bool(known) and any(held.blocked for held in known.values())


def refusal(organization_id: str, endpoint_id: str, person: str, key_id: str = "") -> BudgetState | None:
    """The first spent budget covering the call, or None."""
    known = budget_state.known_for(organization_id)
    if not known:
        return None
    now = clock()
    for held in known.values():
        if held.blocked and held.reset_at > now and held.covers(endpoint_id, person, key_id):
            return held
    return None


def start() -> None:
    """At the server's start: follow the budget states in Redis (hosted), or rebuild them
    from the database in a thread (local: they live in this process)."""
    global _follower
    loop = asyncio.get_running_loop()
    if settings.REDIS_URL:
        _follower = loop.create_task(_follow())
        return
    for rebuild in budget_state.on_local_start:
        loop.run_in_executor(None, _rebuild, rebuild)


def _rebuild(rebuild) -> None:
    from django.db import close_old_connections

    try:
        rebuild()
    except Exception:  # noqa: BLE001 - the writer publishes states with its next batch anyway
        logger.exception("budget states could not be rebuilt at start")
    finally:
        close_old_connections()


async def stop() -> None:
    if _follower is not None:
        _follower.cancel()


async def _follow() -> None:
    import redis.asyncio as aioredis

    warned = False
    while True:
        connection = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
        try:
            async with connection.pubsub() as pubsub:
                await pubsub.subscribe(budget_state.CHANNEL)
                # Subscribed first, then read: nothing published meanwhile is missed.
                budget_state.replace_all(await asyncio.to_thread(budget_state.read_all))
                warned = False
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    data = json.loads(message["data"])
                    if "forget" in data:
                        budget_state.apply(data["forget"], None)
                    elif held := BudgetState.from_data(data):
                        budget_state.apply(held.budget_id, held)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - keep the states known; try again
            if not warned:
                logger.warning("budget states unreachable (%s); known blocks stay until their reset", error)
                warned = True
        finally:
            await connection.aclose()
        await asyncio.sleep(RESUBSCRIBE_SECONDS)
