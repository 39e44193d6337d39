"""The floor a Python proxy can reach here: a bare ASGI app forwarding every request
with one shared aiohttp session, no framework, no usage, no checks.

    FLOOR_UPSTREAM=http://127.0.0.1:PORT uvicorn raw_asgi_floor:app --app-dir benchmarks

proxy_overhead.py runs it beside the product, under the same server and flags, on the
same CPU, in alternating rounds: what Codecosts adds is judged against what this adds.
`/proxy/<slug>/<path>` goes to `<upstream>/<path>`; the response streams back chunk by
chunk as it arrives.
"""

import os

import aiohttp

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:9").rstrip("/")
_HOP = {b"host", b"connection", b"content-length", b"transfer-encoding", b"keep-alive"}
_session: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global _session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0), auto_decompress=False,
                    timeout=aiohttp.ClientTimeout(total=600),
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path.startswith("/proxy/"):
        path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k not in _HOP}
    query = scope["query_string"].decode("latin-1")
    url = UPSTREAM + path + (f"?{query}" if query else "")
    async with _session.request(scope["method"], url, data=body, headers=headers) as upstream:
        await send({
            "type": "http.response.start", "status": upstream.status,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in upstream.headers.items() if k.lower().encode("latin-1") not in _HOP],
        })
        async for chunk in upstream.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
