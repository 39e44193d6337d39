"""The fault suite's short form: every scenario of tests/faults.py ends with no call lost
and none logged twice, on services of its own (a private PostgreSQL and Redis).

benchmarks/faults.py runs the same scenarios at full size (2,000 calls, a 60 s broker
outage, a 30 s database outage). The worker SIGKILL scenario is left to
test_worker_sigkill.py here, which catches the worker mid-batch for certain and waits
once for the broker's 60 s redelivery.
"""

import os

import pytest

from tests.fault_stack import FaultStack, missing_programs
from tests.faults import run, scenarios

SHORT_FORM = [scenario for scenario in scenarios(full=False) if scenario.name != "worker SIGKILL"]


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    if missing := missing_programs():
        message = f"the fault suite needs {', '.join(missing)}"
        if os.environ.get("CODECOSTS_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    stack = FaultStack(tmp_path_factory.mktemp("faults")).start()
    yield stack
    stack.stop()


@pytest.mark.parametrize("scenario", SHORT_FORM, ids=lambda scenario: scenario.name.replace(" ", "-"))
def test_every_call_the_provider_saw_is_logged_once(fault_stack, scenario):
    result = run(fault_stack, scenario)
    counts = f"{result.line()} {result.outcomes}{fault_stack.process_logs()}"
    assert (result.lost, result.duplicated) == (0, 0), counts
    assert (result.spooled_bytes, result.dead_letters) == (0, 0), counts
    assert result.died == [], counts
    # The traffic really ran through the fault: every call reached the provider, but
    # those sent while the web process restarted (refused before anything was sent).
    if any(action.endswith(" web") for _, action in scenario.faults):
        assert result.provider + result.outcomes.get("refused", 0) + result.outcomes.get("cut", 0) >= result.sent, counts
        assert result.provider >= result.sent / 4, counts
    else:
        assert result.provider == result.sent, counts
