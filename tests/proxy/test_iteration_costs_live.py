"""Every billing rule of issue 12 end to end: each iteration fixture, as a body and as a
stream sent one event a write, through uvicorn and the worker, is logged at its hand
arithmetic (tests/fixtures/iterations/EXPECTED.json)."""

import json

import httpx
import pytest

from tests.usage.test_iteration_costs import CASES, EXPECTED, expected_cents

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ANTHROPIC_CASES = [(name, kind) for name, kind in CASES if EXPECTED[name]["provider"] == "anthropic"]


def test_every_rule_is_logged_at_its_hand_arithmetic_through_the_proxy(live_stack, proxy_endpoint):
    url = live_stack.base_url(proxy_endpoint) + "/v1/messages"
    sent = {}
    with httpx.Client(timeout=30) as client:
        for name, kind in ANTHROPIC_CASES:
            body = {"model": EXPECTED[name]["model"], "max_tokens": 1024, "stream": kind == "sse",
                    "messages": [{"role": "user", "content": "Hi"}]}
            response = client.post(
                url,
                content=json.dumps(body),
                headers={"x-api-key": "sk-ant-test", "content-type": "application/json",
                         "x-fake-scenario": f"fixture=iterations/{name}.{kind}"},
            )
            response.read()
            assert response.status_code == 200, (name, kind, response.text[:300])
            sent[(name, kind)] = response.headers["x-codecosts-log-id"]

    logged = {case: live_stack.log(log_id) for case, log_id in sent.items()}
    assert {case: log.cost_cents for case, log in logged.items()} == {
        case: expected_cents(*case) for case in ANTHROPIC_CASES
    }
    assert {case: [part["part"] for part in log.cost_parts] for case, log in logged.items()} == {
        (name, kind): [part[0] for part in EXPECTED[name]["parts"]] for name, kind in ANTHROPIC_CASES
    }
