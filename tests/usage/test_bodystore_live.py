"""The body store in the product as deployed: uvicorn, the usage worker, the database."""

import httpx
import pytest

from tests.bodies_corpus import session_bodies
from tests.factories import stored_request
from usage.bodystore.split import split
from usage.models import BodyPiece

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_claude_code_session_through_the_proxy_is_stored_once_per_piece_and_read_back_exactly(
    live_stack, proxy_endpoint
):
    bodies = session_bodies(seed=21, turns=6)
    url = live_stack.base_url(proxy_endpoint) + "/v1/messages"
    log_ids = []
    with httpx.Client(timeout=20) as client:
        for body in bodies:
            response = client.post(url, content=body, headers={"x-api-key": "sk-ant-test", "content-type": "application/json"})
            assert response.status_code == 200
            log_ids.append(response.headers["x-codecosts-log-id"])

    logs = [live_stack.log(log_id) for log_id in log_ids]

    # Forwarded byte for byte, stored once per piece, rebuilt byte for byte.
    assert [r.body for r in live_stack.upstream.requests[-len(bodies):]] == bodies
    assert [stored_request(log) for log in logs] == bodies
    distinct = {digest for body in bodies for _, digest, _ in split(body).pieces}
    assert BodyPiece.objects.filter(organization=proxy_endpoint.organization).count() == len(distinct)
    stored = sum(len(p.data) for p in BodyPiece.objects.filter(organization=proxy_endpoint.organization))
    stored += sum(len(log.body.request_body) + len(log.body.request_manifest) for log in logs)
    # Six turns already keep less than a ninth of the bytes sent (stored whole and
    # compressed they would keep about two fifths).
    assert stored * 9 < sum(len(body) for body in bodies)
    # What the worker reads from a cut request (Claude Code's session) was read as it was cut.
    assert len({log.session_id for log in logs}) == 1 and logs[0].session_id is not None
