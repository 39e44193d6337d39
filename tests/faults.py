"""The fault scenarios: bounded traffic, a nonce per call, while a part of the product fails.

Each call carries a nonce as its Claude Code session id (a header the usage log keeps),
so every call the fake provider received is tied to its usage log. A scenario counts:

  sent        calls the client started
  answered    calls whose whole response the client read, whatever its status
  provider    calls the provider received: the ones the product must log
  logged      provider calls with a usage log
  lost        provider calls with none
  duplicated  usage logs beyond the first for one call

and, once its traffic has ended and every part runs again, what the web process still
holds in its spool and how many records were dead-lettered. Sizes come in two forms: the
full runs of benchmarks/faults.py (2,000 calls, outages as long as issue 11 names) and
the short form tests/reliability/test_faults.py runs in `make test`.
"""

import asyncio
import base64
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from tests.fault_stack import FaultStack, wait_for

MODEL = "claude-sonnet-4-6"


@dataclass(frozen=True)
class Call:
    stream: bool = False
    scenario: str = ""  # the fake provider's x-fake-scenario
    timeout: float = 60
    hang_up_after_first_chunk: bool = False
    image_bytes: int = 0  # an incompressible base64 image of this size in the request


@dataclass
class Scenario:
    name: str
    calls: int
    seconds: float  # traffic spread evenly over this long; 0: as fast as concurrency allows
    call: Callable[[int], Call] = lambda index: Call()
    faults: list[tuple[float, str]] = field(default_factory=list)  # (second, action)
    concurrency: int = 16
    settle: float = 60  # how long every log may take to land after the traffic


@dataclass
class Result:
    scenario: str
    sent: int
    answered: int
    provider: int
    logged: int
    duplicated: int
    spooled_bytes: int
    dead_letters: int
    seconds: float
    outcomes: dict[str, int]
    died: list[str]  # parts that stopped though no fault stopped them

    @property
    def lost(self) -> int:
        return self.provider - self.logged

    HEADER = f"{'scenario':<22}{'sent':>7}{'answered':>10}{'provider':>10}{'logged':>8}{'lost':>6}{'dup':>5}{'spool B':>9}{'dead':>6}{'s':>7}"

    def line(self) -> str:
        return (
            f"{self.scenario:<22}{self.sent:>7}{self.answered:>10}{self.provider:>10}{self.logged:>8}{self.lost:>6}"
            f"{self.duplicated:>5}{self.spooled_bytes:>9}{self.dead_letters:>6}{self.seconds:>7.1f}"
        )


def _restart_web(stack: FaultStack, signum: int) -> None:
    stack.signal_web(signum)
    stack.start_web()  # on the same port and spool: it recovers the journal of the one before


ACTIONS: dict[str, Callable[[FaultStack], None]] = {
    "kill redis": lambda stack: stack.redis.kill(),
    "start redis": lambda stack: stack.redis.start(),
    "kill worker": FaultStack.kill_worker,
    "start worker": FaultStack.start_worker,
    "restart postgres": lambda stack: (stack.postgres.stop("fast"), stack.postgres.start()),
    "crash postgres": lambda stack: stack.postgres.stop("immediate"),
    "start postgres": lambda stack: stack.postgres.start(),
    "sigterm web": lambda stack: _restart_web(stack, signal.SIGTERM),
    "sigkill web": lambda stack: _restart_web(stack, signal.SIGKILL),
}


def _streams_in_flight(index: int) -> Call:
    """One call in four a stream of 1.4 s, so a kill always finds some open."""
    return Call(stream=True, scenario="delay=200") if index % 4 == 0 else Call()


UPSTREAM_FAULTS = [
    Call(scenario="cut=100"),  # a JSON answer cut short
    Call(stream=True, scenario="drop=3"),  # a stream cut after three events
    Call(scenario="hang", timeout=1),  # no answer: the client gives up
    Call(stream=True, scenario="hang", timeout=1),  # headers, then silence
    Call(scenario="status=500"),
    Call(scenario="status=529"),
    Call(),
]


def scenarios(full: bool) -> list[Scenario]:
    """Every scenario of issue 11, at full size or in the short form."""

    def size(full_value, short_value):
        return full_value if full else short_value

    broker_down, db_down = size(60, 4), size(30, 4)
    return [
        Scenario(
            "broker down",
            size(2000, 150),
            broker_down + size(20, 6),
            faults=[(size(5, 2), "kill redis"), (size(5, 2) + broker_down, "start redis")],
        ),
        Scenario(
            "worker SIGKILL",
            size(2000, 150),
            size(20, 6),
            faults=[(size(8, 2), "kill worker"), (size(11, 3), "start worker")],
            settle=150,  # the broker redelivers what the killed worker held after 60 s
        ),
        Scenario("database restart", size(2000, 150), size(20, 6), faults=[(size(8, 2), "restart postgres")]),
        Scenario(
            "database outage",
            size(2000, 150),
            db_down + size(15, 6),
            faults=[(size(5, 2), "crash postgres"), (size(5, 2) + db_down, "start postgres")],
        ),
        Scenario("web SIGTERM", size(2000, 150), size(20, 8), _streams_in_flight, [(size(8, 3), "sigterm web")]),
        Scenario("web SIGKILL", size(2000, 150), size(20, 8), _streams_in_flight, [(size(8, 3), "sigkill web")]),
        Scenario(
            "client disconnects",
            size(500, 100),
            0,
            lambda index: Call(stream=True, scenario="delay=100", hang_up_after_first_chunk=True),
        ),
        Scenario("upstream faults", size(2000, 140), size(20, 5), lambda index: UPSTREAM_FAULTS[index % len(UPSTREAM_FAULTS)]),
        Scenario(
            "4 MB bodies",
            size(150, 12),
            0,
            lambda index: Call(image_bytes=4 * 1024 * 1024),
            concurrency=4,
            settle=120,
        ),
    ]


def run(stack: FaultStack, scenario: Scenario) -> Result:
    """Send the scenario's traffic through its faults; count what the product logged."""
    endpoint_id, slug = stack.new_endpoint(scenario.name.replace(" ", "-").lower())
    url = f"{stack.url}/proxy/{slug}/v1/messages"
    dead_before = stack.pipeline_state()["dead_letters"] or 0
    stack.upstream.requests.clear()
    started = time.monotonic()
    outcomes = asyncio.run(_traffic(stack, url, scenario))
    received = {
        request.headers.get("x-claude-code-session-id") or request.headers.get("X-Claude-Code-Session-Id")
        for request in stack.upstream.requests
    }
    stack.upstream.requests.clear()
    provider = received & outcomes.keys()
    died = stack.restart_stopped()
    wait_for(lambda: provider <= stack.rows_by_nonce(endpoint_id).keys(), scenario.settle)
    time.sleep(2)  # a log written twice would show by now
    rows = stack.rows_by_nonce(endpoint_id)
    wait_for(lambda: not stack.pipeline_state()["spooled_bytes"], 30)
    state = stack.pipeline_state()
    counted: dict[str, int] = {}
    for outcome in outcomes.values():
        counted[outcome] = counted.get(outcome, 0) + 1
    return Result(
        scenario=scenario.name,
        sent=len(outcomes),
        answered=counted.get("answered", 0),
        provider=len(provider),
        logged=len(provider & rows.keys()),
        duplicated=sum(count - 1 for count in rows.values()),
        spooled_bytes=state["spooled_bytes"],
        dead_letters=(state["dead_letters"] or 0) - dead_before,
        seconds=time.monotonic() - started,
        outcomes=counted,
        died=died,
    )


async def _traffic(stack: FaultStack, url: str, scenario: Scenario) -> dict[str, str]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    outcomes: dict[str, str] = {}
    slots = asyncio.Semaphore(scenario.concurrency)

    async def one(session, index):
        async with slots:
            nonce = uuid.uuid4().hex
            outcomes[nonce] = "started"
            outcomes[nonce] = await _call(session, url, scenario.call(index), nonce)

    async def faults():
        for at, action in scenario.faults:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            await asyncio.to_thread(ACTIONS[action], stack)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        fault_task = asyncio.create_task(faults())
        calls = []
        for index in range(scenario.calls):
            if scenario.seconds:
                await asyncio.sleep(max(0.0, start + index * scenario.seconds / scenario.calls - loop.time()))
            calls.append(asyncio.create_task(one(session, index)))
        await asyncio.gather(*calls)
        await fault_task
    return outcomes


async def _call(session: aiohttp.ClientSession, url: str, call: Call, nonce: str) -> str:
    content = "Hi"
    if call.image_bytes:
        data = base64.b64encode(os.urandom(call.image_bytes * 3 // 4)).decode()
        content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}]
    body = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": content}]}
    if call.stream:
        body["stream"] = True
    headers = {
        "x-api-key": "sk-ant-fault-suite",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "x-claude-code-session-id": nonce,
    }
    if call.scenario:
        headers["x-fake-scenario"] = call.scenario
    try:
        async with session.post(
            url, data=json.dumps(body).encode(), headers=headers, timeout=aiohttp.ClientTimeout(total=call.timeout)
        ) as response:
            if call.hang_up_after_first_chunk:
                await response.content.readany()
                response.close()
                return "hung up"
            await response.read()
            return "answered"
    except aiohttp.ClientConnectorError:
        return "refused"  # the web process was down: nothing was sent
    except (aiohttp.ClientError, TimeoutError):
        return "cut"
