"""The body store: requests cut into pieces stored once per organization, rebuilt byte-exact."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.bodies_corpus import session_bodies
from tests.factories import stored_request, usage_record
from usage.bodystore.recent import RecentPieces
from usage.bodystore.split import MIN_BODY, MIN_PIECE, join, manifest_entries, split
from usage.bodystore.store import PiecesMissing, request_bytes
from usage.models import BodyPiece, UsageLog
from usage.records import record_from_payload, record_to_payload
from usage.services.logs import usage_log_record_many
from usage.tasks import usage_log_record_batch, usage_log_record_isolating

FIXTURES = Path(__file__).parent.parent / "fixtures"
LONG = "x" * MIN_BODY  # a piece long enough to be one, in a body long enough to be cut


def rebuilt(body: bytes) -> bytes:
    cut = split(body)
    if cut is None:
        return body
    return join(cut.skeleton, cut.manifest, {digest: piece for _, digest, piece in cut.pieces})


# --- cutting and joining --------------------------------------------------------------


def recorded_bodies() -> list[bytes]:
    requests = json.loads((FIXTURES / "claude_code" / "subagents.json").read_text())["requests"]
    return [r["body"].encode() for r in requests if r["body"]]


@pytest.mark.parametrize("path", sorted(p for p in FIXTURES.rglob("*") if p.is_file()), ids=lambda p: p.name)
def test_every_fixture_is_rebuilt_byte_exact(path):
    data = path.read_bytes()
    assert rebuilt(data) == data


def test_each_request_claude_code_really_sent_is_cut_and_rebuilt_byte_exact():
    bodies = recorded_bodies()
    assert bodies
    for body in bodies:
        cut = split(body)
        assert cut is not None and len(cut.pieces) >= 20
        assert rebuilt(body) == body


UNUSUAL = [
    # whitespace everywhere, CRLF, tabs
    b' \r\n{ "model" :\t"m" ,\n "messages" : [ \n {"role":"user","content":"' + LONG.encode() + b'"} \r\n, {"role" : "assistant" , "content" : "'
    + LONG.encode() + b'"}\t] } \n',
    # keys in another order, the split keys last
    b'{"stream":true,"max_tokens":10,"tools":[{"name":"t","description":"' + LONG.encode() + b'"}],"model":"m"}',
    # unicode escapes and raw UTF-8, escaped quotes and slashes
    '{"messages":[{"content":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\/ é😀 '.encode() + LONG.encode() + b'"}],"model":"m"}',
    # numbers as written: exponents, trailing zeros, big integers, negative zero
    b'{"temperature":1.50,"top_p":1e-3,"seed":123456789012345678901234567890,"x":-0.0,"messages":[{"n":[1.0,2E+2,-0,3.14159265358979323846264338327950288],"c":"'
    + LONG.encode() + b'"}]}',
    # system as a string, tools empty, messages with small elements kept in the skeleton
    b'{"system":"' + LONG.encode() + b'","tools":[],"messages":[{"role":"user","content":"hi"}]}',
    # nested arrays and objects, duplicated split key
    b'{"messages":[[{"a":[[["' + LONG.encode() + b'"]]]}]],"messages":[{"b":"' + LONG.encode() + b'"}]}',
]
NOT_CUT = [
    b"",
    b"[1, 2, 3]",
    b'"just a string"',
    b'{"messages":[{"content":"' + LONG.encode() + b'"}]',  # cut off (a truncated body)
    b'{"messages":[{"content":"' + LONG.encode() + b'"}]} trailing',
    b'\xef\xbb\xbf{"messages":["' + LONG.encode() + b'"]}',  # a byte-order mark
    b'{"messages":["\xff\xfe' + LONG.encode() + b'"]}',  # not UTF-8
    b'{"model":"m","metadata":"' + LONG.encode() + b'"}',  # nothing to cut
    # under MIN_BODY: not worth cutting
    b'{"messages":[{"content":"' + b"x" * MIN_PIECE + b'"}]}',
    b"{}",
]


@pytest.mark.parametrize("body", UNUSUAL)
def test_unusual_json_is_cut_and_rebuilt_byte_exact(body):
    cut = split(body)
    assert cut is not None and cut.pieces
    assert rebuilt(body) == body
    # The skeleton is every byte not in a piece.
    assert len(cut.skeleton) + sum(len(piece) for _, _, piece in cut.pieces) == len(body)
    assert [digest for digest, _ in manifest_entries(cut.manifest)] == [digest for _, digest, _ in cut.pieces]


@pytest.mark.parametrize("body", NOT_CUT)
def test_what_is_not_a_whole_json_object_with_pieces_is_not_cut(body):
    assert split(body) is None


def test_pieces_are_the_elements_of_system_tools_messages_and_input():
    body = json.dumps({
        "model": "m", "system": [{"type": "text", "text": LONG}], "tools": [{"name": LONG}],
        "messages": [{"role": "user", "content": LONG}, {"role": "user", "content": "short"}],
        "input": [{"type": "message", "content": LONG}], "metadata": {"user_id": LONG},
    }).encode()
    cut = split(body)
    assert [json.loads(piece) for _, _, piece in cut.pieces] == [
        {"type": "text", "text": LONG}, {"name": LONG}, {"role": "user", "content": LONG},
        {"type": "message", "content": LONG},
    ]
    assert b'"short"' in cut.skeleton and LONG.encode() in cut.skeleton  # metadata is not cut
    assert cut.parsed == json.loads(body)


def test_a_session_repeats_its_pieces_and_adds_few_per_turn():
    bodies = session_bodies(seed=3, turns=10)
    seen, new_per_turn = set(), []
    for body in bodies:
        cut = split(body)
        new = {digest for _, digest, _ in cut.pieces} - seen
        new_per_turn.append(len(new))
        seen |= new
        assert rebuilt(body) == body
    # First: system blocks, tools and the prompt; then each turn the marked newest
    # message, the one it replaced (its marker gone) and the assistant's message.
    assert new_per_turn[0] >= 25 and max(new_per_turn[1:]) <= 3


# --- through the writer ------------------------------------------------------------------


def shipped(endpoint, body: bytes, recent: RecentPieces | None, **fields):
    record = usage_record(endpoint=endpoint, request_body=body, request_size=len(body), **fields)
    return record_to_payload(record, recent)


def write(payloads, **options) -> int:
    return usage_log_record_many(records=[record_from_payload(p) for p in payloads], **options)


def test_a_session_is_stored_once_per_piece_and_every_request_rebuilt_exactly(org, endpoint):
    bodies = session_bodies(seed=5, turns=12)
    recent = RecentPieces()
    payloads = [shipped(endpoint, body, recent, request_model="") for body in bodies]

    assert write(payloads[:5]) == 5 and write(payloads[5:]) == 7

    distinct = {digest for body in bodies for _, digest, _ in split(body).pieces}
    assert BodyPiece.objects.filter(organization=org).count() == len(distinct)
    for payload, body in zip(payloads, bodies):
        assert stored_request(UsageLog.objects.get(id=payload["id"])) == body
    # Only the pieces not sent before travel: the last call carries its newest messages.
    assert len(payloads[0]["request_pieces"]) >= 25
    assert [len(p["request_pieces"]) for p in payloads[1:]] == [3] * 11
    # What the worker reads from the body was read as it was cut.
    log = UsageLog.objects.get(id=payloads[-1]["id"])
    assert log.claude_code_session_id == json.loads(json.loads(bodies[-1])["metadata"]["user_id"])["session_id"]
    assert log.request_model == "claude-opus-4-8"


def test_pieces_are_the_organizations_own(org, endpoint, other_org):
    from proxy.models import ProxyEndpoint

    theirs = ProxyEndpoint.objects.create(organization=other_org, name="Globex", slug="globex")
    body = session_bodies(seed=8, turns=1)[0]
    recent = RecentPieces()
    ours_payload, theirs_payload = shipped(endpoint, body, recent), shipped(theirs, body, recent)
    # The same bytes in another organization travel and are stored again.
    assert len(theirs_payload["request_pieces"]) == len(ours_payload["request_pieces"]) > 0

    write([ours_payload, theirs_payload])

    count = len(ours_payload["request_pieces"])
    assert BodyPiece.objects.filter(organization=org).count() == count
    assert BodyPiece.objects.filter(organization=other_org).count() == count
    # A log never reads another organization's pieces.
    BodyPiece.objects.filter(organization=org).delete()
    ours = UsageLog.objects.get(id=ours_payload["id"])
    assert request_bytes(ours.organization_id, ours.body) == (b"", count)
    assert stored_request(UsageLog.objects.get(id=theirs_payload["id"])) == body


def test_last_used_follows_the_latest_call_using_a_piece(org, endpoint):
    body = session_bodies(seed=9, turns=1)[0]
    day = datetime(2026, 5, 1, 12, tzinfo=UTC)
    write([shipped(endpoint, body, None, started_at=day.timestamp())])
    assert set(BodyPiece.objects.values_list("last_used", flat=True)) == {day.date()}

    # Reused three days later (not carried again): every piece it uses is marked.
    recent = RecentPieces()
    recent_first = [recent.first(str(org.id), digest) for _, digest, _ in split(body).pieces]
    assert all(recent_first)
    write([shipped(endpoint, body, recent, started_at=(day + timedelta(days=3)).timestamp())])
    assert set(BodyPiece.objects.values_list("last_used", flat=True)) == {(day + timedelta(days=3)).date()}

    # A call older than the mark leaves it.
    write([shipped(endpoint, body, None, started_at=(day + timedelta(days=1)).timestamp())])
    assert set(BodyPiece.objects.values_list("last_used", flat=True)) == {(day + timedelta(days=3)).date()}


def test_a_request_whose_pieces_are_not_written_waits_then_is_written_incomplete_and_heals(
    org, endpoint, caplog, monkeypatch
):
    first, second = session_bodies(seed=11, turns=2)
    recent = RecentPieces()
    carrying, referring = shipped(endpoint, first, recent), shipped(endpoint, second, recent)

    # Another worker has not committed the batch carrying the pieces yet.
    with pytest.raises(PiecesMissing) as missing:
        write([referring])
    assert missing.value.record_ids == [referring["id"]]
    assert not UsageLog.objects.filter(id=referring["id"]).exists()

    # The task waits for them a few times, then writes the log as it is (run eagerly:
    # Celery's apply() runs each retry at once, when it does not re-raise).
    attempts = []
    monkeypatch.setattr("usage.tasks.usage_log_record_isolating", lambda payloads, missing_ok: (
        attempts.append(missing_ok), usage_log_record_isolating(payloads, missing_ok=missing_ok))[1])
    conf = usage_log_record_batch.app.conf
    propagates, conf.task_eager_propagates = conf.task_eager_propagates, False
    try:
        assert usage_log_record_batch.apply(args=[[referring]]).get() == 1
    finally:
        conf.task_eager_propagates = propagates
    assert attempts == [False, False, False, True]
    log = UsageLog.objects.get(id=referring["id"])
    assert log.input_tokens == 1200 and request_bytes(org.id, log.body)[1] > 0
    assert f"usage record {referring['id']}: its request body lacks pieces" in caplog.text

    # The pieces land with their own call: the earlier-written request is whole again.
    write([carrying])
    assert stored_request(log) == second
    assert stored_request(UsageLog.objects.get(id=carrying["id"])) == first


def test_a_delivery_refused_forgets_what_was_sent_so_the_pieces_travel_again(endpoint, tmp_path, monkeypatch):
    from usage import pipeline
    from usage.spool import Spool

    delivered = []

    def deliver(payloads):
        if not payloads[0]["bodies_dropped"]:
            raise ValueError("refused for what it holds")
        delivered.extend(payloads)

    monkeypatch.setattr(pipeline, "deliver", deliver)
    body = session_bodies(seed=12, turns=1)[0]
    shipper = pipeline.Shipper(Spool(tmp_path))
    payload = shipped(endpoint, body, shipper.recent)
    assert payload["request_pieces"] and shipped(endpoint, body, shipper.recent)["request_pieces"] == []

    shipper.send([payload])

    # It went without its bodies (and its pieces), keeping what its request said...
    assert delivered[0]["request_pieces"] == [] and delivered[0]["request_facts"] == payload["request_facts"]
    # ...and the pieces travel again with their next use.
    assert len(shipped(endpoint, body, shipper.recent)["request_pieces"]) == len(payload["request_pieces"])


def test_a_piece_travels_again_after_a_while_however_often_it_is_used(monkeypatch):
    import usage.bodystore.recent as recent_module

    now = [1000.0]
    monkeypatch.setattr(recent_module.time, "monotonic", lambda: now[0])
    recent = RecentPieces(size=2, seconds=60)
    assert recent.first("org", b"a") and not recent.first("org", b"a")
    now[0] += 59
    assert not recent.first("org", b"a")
    now[0] += 2
    assert recent.first("org", b"a")
    # The least recently used goes first when full.
    assert recent.first("org", b"b") and recent.first("org", b"c")
    assert recent.first("org", b"a") and not recent.first("org", b"c")


def test_a_request_that_is_not_cut_is_stored_whole_as_before(org, endpoint):
    body = b'{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"Hi"}]}'
    payload = shipped(endpoint, body, RecentPieces())
    assert payload["request_manifest"] == "" and payload["request_pieces"] == []

    write([payload])

    log = UsageLog.objects.get(id=payload["id"])
    assert bytes(log.body.request_manifest) == b"" and stored_request(log) == body
    assert not BodyPiece.objects.exists()


def test_the_log_api_and_page_read_through_the_store(endpoint, api_client, owner_session_client):
    body = session_bodies(seed=13, turns=3)[-1]
    payload = shipped(endpoint, body, None)
    write([payload])

    detail = api_client.get(f"/api/usage-logs/{payload['id']}").json()
    assert detail["request_body"] == json.loads(body)
    page = owner_session_client.get(f"/logs/{payload['id']}")
    assert page.status_code == 200
    last_result = json.loads(body)["messages"][-1]["content"][0]["content"]
    assert last_result.splitlines()[0].strip() in page.content.decode()


def test_an_unknown_organization_id_reads_no_piece(org, endpoint):
    body = session_bodies(seed=14, turns=1)[0]
    write([shipped(endpoint, body, None)])
    log = UsageLog.objects.get()
    assert request_bytes(uuid.uuid4(), log.body)[0] == b""


@pytest.mark.django_db(transaction=True)
def test_a_piece_the_writer_found_is_not_collected_before_its_batch_commits(org):
    """The race retention had with the writer on PostgreSQL: the writer reads a piece as
    present (unused for longer than the retention), retention deletes it, the writer's
    manifest then names a deleted piece. The writer's lock makes the DELETE wait for its
    commit, and then keep the piece it marked used."""
    import threading

    from django.db import connection, transaction
    from django.utils import timezone

    from usage.bodystore import store
    from usage.services import retention

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's writers take turns with retention: no race to lose")
    old = (timezone.now() - timedelta(days=90)).date()
    piece = BodyPiece.objects.create(organization=org, digest=b"d" * 16, data=b"x", size=1, last_used=old)
    deleted = []

    def collect():
        try:
            deleted.append(retention._pieces_collect(
                org, bodies_before=timezone.now() - timedelta(days=30), batch_size=100, dry_run=False
            ))
        finally:
            connection.close()

    with transaction.atomic():
        assert store._last_used(str(org.id), [piece.digest]) == {piece.digest: old}
        collector = threading.Thread(target=collect)
        collector.start()
        collector.join(1.0)
        assert collector.is_alive()  # waiting for the writer's batch
        BodyPiece.objects.filter(pk=piece.pk).update(last_used=timezone.now().date())
    collector.join(10)

    assert deleted == [0] and BodyPiece.objects.filter(pk=piece.pk).exists()
