"""Micro-timings of the steps of one proxied call, in one process, without any network.

Complements the py-spy profile of proxy_overhead.py --profile with exact per-step costs
(best of several repeats, so other load on the machine matters less):

    SECRET_KEY=x .venv/bin/python benchmarks/hot_path_micro.py
"""

import asyncio
import io
import os
import sys
import tempfile
import timeit
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TMP = tempfile.mkdtemp(prefix="codecosts-micro-")
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "codecosts.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key",
        "DATABASE_URL": f"sqlite:///{TMP}/micro.sqlite3",
        "REDIS_URL": "",
        "VAR_DIR": f"{TMP}/var",
        "USAGE_SPOOL_DIR": f"{TMP}/spool",
        "LOG_LEVEL": "WARNING",
        "LOCAL_ONLY": "0",
        "LOCAL_MODE": "0",
    }
)

import django  # noqa: E402

django.setup()

from django.core.handlers.asgi import ASGIRequest  # noqa: E402
from django.http import HttpResponse, StreamingHttpResponse  # noqa: E402
from django.urls import get_resolver  # noqa: E402
from multidict import CIMultiDict, CIMultiDictProxy  # noqa: E402

from fake_upstream import COMMON_HEADERS, MESSAGE  # noqa: E402
from load_client import HEADERS, request_body  # noqa: E402
from proxy import exchange as exchange_module  # noqa: E402
from proxy import headers, upstream, views  # noqa: E402
from accounts.selectors import api_key_hash  # noqa: E402
from proxy.asgi import _admit  # noqa: E402
from proxy.lookups import EndpointRef, KeyRef, _endpoints, _keys, endpoint_for_slug  # noqa: E402
from providers.registry import spec_for  # noqa: E402
from providers.requests import request_info  # noqa: E402
from usage import pipeline  # noqa: E402
from usage.journal import Journal  # noqa: E402
from usage.records import record_to_payload  # noqa: E402

SLUG = "bench-micro"
BODY = request_body(False)
SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "server": ("127.0.0.1", 3739),
    "client": ("127.0.0.1", 50000),
    "scheme": "http",
    "method": "POST",
    "root_path": "",
    "path": f"/proxy/{SLUG}/v1/messages",
    "raw_path": f"/proxy/{SLUG}/v1/messages".encode(),
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:3739"), (b"content-length", str(len(BODY)).encode())]
    + [(k.encode(), v.encode()) for k, v in HEADERS.items()],
    "state": {},
}
UPSTREAM_HEADERS = CIMultiDictProxy(
    CIMultiDict(
        [("Content-Type", "application/json"), ("Content-Length", str(len(MESSAGE)))]
        + [tuple(line.split(": ", 1)) for line in COMMON_HEADERS.decode().strip().split("\r\n")]
    )
)
ENDPOINT = EndpointRef(str(uuid.uuid4()), str(uuid.uuid4()), SLUG, None, True)
# A locked endpoint and its caller's key, as the benchmark's server sees them.
RAW_KEY = "cc_" + "k" * 43
SCOPE["headers"].append((b"x-codecosts-key", RAW_KEY.encode()))


def per_call(fn, number: int = 5000, repeat: int = 7) -> float:
    """Best-of-`repeat` microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def exchange():
    _, seen = headers.forward_headers(SCOPE)
    return exchange_module.Exchange(
        endpoint=ENDPOINT, api_key_id="", provider="anthropic", path="/v1/messages", body=BODY, seen_headers=seen,
        meter=spec_for("anthropic").meter_for("/v1/messages"),
    )


FACTS = {
    "id": str(uuid.uuid4()), "organization_id": str(uuid.uuid4()), "endpoint_id": str(uuid.uuid4()),
    "endpoint_slug": "bench", "provider": "anthropic", "path": "/v1/messages", "started_at": 1.0,
    "api_key_id": "", "user_agent": "claude-cli/2.1.0 (external, cli)", "key_hint": "Q3xA",
    "claude_code_session_id": "", "session_name": "", "request_size": 4096,
}


def main() -> None:
    records = []
    # No shipper: only what the event loop does, the journal's writes included.
    journal = Journal(Path(tempfile.mkdtemp(prefix="codecosts-micro-journal-")))
    pipeline.started = journal.started

    def record(usage_record):
        journal.finished(usage_record)
        records.append(usage_record)

    pipeline.record = record
    resolver = get_resolver()
    rows = []

    def add(name, fn, **kw):
        # The hot path changes under this script: a step that no longer fits is reported.
        try:
            rows.append((name, per_call(fn, **kw)))
        except Exception as exc:  # noqa: BLE001
            rows.append((name, f"n/a ({type(exc).__name__}: {exc})"[:60]))

    add("ASGIRequest(scope, body)  [Django: META from 11 headers]", lambda: ASGIRequest(SCOPE, io.BytesIO(BODY)))
    add("URL resolve /proxy/<slug>/v1/messages  [Django]", lambda: resolver.resolve(SCOPE["path"]))
    add("uuid.uuid4()  [Exchange.__init__; releases the GIL]", uuid.uuid4)
    add("request_info(body)  [orjson parse; off the event loop since 47ce12a]", lambda: request_info(BODY))
    add("spec_for('anthropic').meter_for('/v1/messages')", lambda: spec_for("anthropic").meter_for("/v1/messages"))
    add("_admit(scope)  [canonical path, query and header caps]", lambda: _admit(SCOPE))
    add("_forward_headers(scope)", lambda: headers.forward_headers(SCOPE))
    add("Exchange(...)  [incl. uuid4]", exchange)
    import inspect

    if "streaming" in inspect.signature(upstream.timeout).parameters:
        add("upstream.timeout(streaming=False)", lambda: upstream.timeout(streaming=False))
    else:
        add("upstream.timeout()", upstream.timeout)
    add("_response_headers(16 upstream headers)", lambda: headers.response_headers(UPSTREAM_HEADERS, "x"))
    kept = headers.response_headers(UPSTREAM_HEADERS, str(uuid.uuid4()))
    add("HttpResponse(body, headers=16)  [Django]", lambda: HttpResponse(MESSAGE, status=200, headers=kept))
    response = HttpResponse(MESSAGE, status=200, headers=kept)

    def encode_headers():
        out = []
        for header, value in response.items():
            out.append((header.encode("ascii"), value.encode("latin1")))
        for c in response.cookies.values():
            out.append((b"Set-Cookie", c.OutputString().encode("ascii")))
        return out

    add("send_response header encoding  [Django]", encode_headers)

    async def noop():
        yield b""

    add("StreamingHttpResponse(gen, headers=16)  [Django]",
        lambda: StreamingHttpResponse(noop(), status=200, headers=kept), number=2000)
    add("HttpResponse.close()  [Django: request_finished signal]",
        lambda: HttpResponse(b"", status=200).close())

    def feed_and_finish():
        x = exchange()
        x.meter.feed_body(MESSAGE)
        x.keep(MESSAGE)
        x.status = 200
        x.finish("ok")

    add("Exchange + meter.feed_body + keep + finish()  [builds UsageRecord]", feed_and_finish)
    try:
        from proxy.responses import ProxyResponse

        add("ProxyResponse(200, headers=16)  [lean handler]", lambda: ProxyResponse(200, kept, body=MESSAGE))
    except ImportError:
        pass
    event = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
             b'"delta":{"type":"text_delta","text":"Hello, world"}}\n\n')
    streaming = exchange()

    def per_event():
        streaming.meter.feed(event)
        streaming.keep(event)

    add("meter.feed + keep, one SSE content_block_delta event  [per streamed event]", per_event, number=20000)
    records.clear()
    try:
        feed_and_finish()
        rec = records[0]
        add("journal.started(id, facts)  [in Exchange(); one os.write]", lambda: journal.started(rec.id, FACTS))
        add("journal.finished(record)  [in finish(); summary + os.write]", lambda: journal.finished(rec))
        journal.out([rec.id])
        add("record_to_payload(record)  [shipper thread: zlib + base64]", lambda: record_to_payload(rec), number=2000)
    except Exception as exc:  # noqa: BLE001
        rows.append(("record_to_payload(record)", f"n/a ({exc})"[:60]))

    async def async_steps():
        import time

        _endpoints.local[SLUG] = (time.monotonic() + 1e9, ENDPOINT)
        n = 5000
        t0 = time.perf_counter()
        for _ in range(n):
            await endpoint_for_slug(SLUG)
        rows.append(("endpoint_for_slug (process-cache hit)", (time.perf_counter() - t0) / n * 1e6))

        digest = api_key_hash(RAW_KEY)
        _keys.local[digest] = (time.monotonic() + 1e9, KeyRef(str(uuid.uuid4()), ENDPOINT.organization_id))
        _, seen = headers.forward_headers(SCOPE)
        t0 = time.perf_counter()
        for _ in range(n):
            await views._caller_key(ENDPOINT, seen)
        rows.append(("_caller_key (hash + process-cache hit)", (time.perf_counter() - t0) / n * 1e6))

        async def listen():
            await asyncio.sleep(3600)

        t0 = time.perf_counter()
        for _ in range(n):
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(listen())
                    raise KeyError
            except* KeyError:
                pass
        rows.append(("TaskGroup + disconnect-listener task + cancel  [Django's handler, before 16]",
                     (time.perf_counter() - t0) / n * 1e6))

        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        for _ in range(n):
            listener = loop.create_task(listen())
            await asyncio.sleep(0)  # it starts waiting, as a real listener does
            listener.cancel()
        await asyncio.sleep(0)
        rows.append(("disconnect-listener task, started then cancelled  [proxy/asgi.py]",
                     (time.perf_counter() - t0) / n * 1e6))

        from proxy.asgi import ProxyRequest, _route

        t0 = time.perf_counter()
        for _ in range(n):
            _route(ProxyRequest(SCOPE, BODY).path)
        rows.append(("ProxyRequest + _route (resolved once)  [lean handler]", (time.perf_counter() - t0) / n * 1e6))

    asyncio.run(async_steps())

    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  us/call")
    for name, us in rows:
        print(f"{name:<{width}}  {us:7.1f}" if isinstance(us, float) else f"{name:<{width}}  {us}")


if __name__ == "__main__":
    try:
        main()
    finally:
        import shutil

        shutil.rmtree(TMP, ignore_errors=True)
