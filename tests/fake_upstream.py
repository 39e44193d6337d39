"""A fake Anthropic + OpenAI API served on loopback, replaying tests/fixtures.

It runs an aiohttp server on its own event loop in a thread of the test process, so
tests can steer it and look at what it received. Behaviour is chosen per request with
the `x-fake-scenario` header (forwarded by the proxy like any client header), a
comma-separated list of:

  fixture=<file>     answer with tests/fixtures/<file> (.json body or .sse stream)
  status=<code>      answer with this status (body: the matching error fixture)
  delay=<ms>         wait this long between SSE events
  lockstep=<token>   before each SSE event after the first, wait for release(token)
  drop=<n>           send n SSE events, then cut the connection
  cut=<bytes>        a JSON answer whose Content-Length promises it all, cut after this many bytes
  hang               send the headers (or nothing, for non-streaming), then go silent
  big=<bytes>        a non-streaming JSON body of about this size
  echo               answer with what was received (method, path, query, headers, body);
                     with status=<code>, as an Anthropic error of that status whose
                     message is that echo (as JSON)
  echo_sse           an Anthropic text stream (with usage) whose one text delta is that echo
  split=<n>          with echo_sse: the echo cut into text deltas of n characters
  cors               the usual answer plus CORS and Connection-named hop-by-hop headers

Without a scenario, /v1/messages answers with the basic message or the text stream
(following the request's `stream`), and the OpenAI routes with their fixtures. Like
OpenAI, a chat stream carries usage (the last chunk, and `"usage": null` on the others)
only when the request set `stream_options.include_usage`. /v1/embeddings answers with
one small embedding per input, as floats or base64 following `encoding_format`.
"""

import asyncio
import base64
import json
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict
    body: bytes
    # The request target's path exactly as it came on the wire (path is aiohttp's decoding).
    raw_path: str = ""


@dataclass
class FakeUpstream:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    # SSE events sent per lockstep token, in order (for ordering assertions).
    sent: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self._loop = asyncio.new_event_loop()
        self._gates: dict[str, asyncio.Event] = {}
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)
        self.disconnected: list[str] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FakeUpstream":
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port = probe.getsockname()[1]
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def release(self, token: str) -> None:
        """Let a lockstep stream send its next event."""
        self._loop.call_soon_threadsafe(self._gate(token).set)

    def _gate(self, token: str) -> asyncio.Event:
        return self._gates.setdefault(token, asyncio.Event())

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, self.host, self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Received(
                request.method,
                request.path,
                request.query_string,
                dict(request.headers),
                body,
                request.raw_path.partition("?")[0],
            )
        )
        scenario = _parse_scenario(request.headers.get("x-fake-scenario", ""))
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            payload = {}
        openai = request.path.startswith("/v1/chat") or request.path.startswith("/v1/responses") or request.path.startswith("/v1/embeddings")

        echoed = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        if "echo" in scenario and "status" in scenario:
            error = {"type": "error", "error": {"type": "invalid_request_error", "message": json.dumps(echoed)}}
            return web.json_response(error, status=int(scenario["status"]))
        if "echo" in scenario:
            return web.json_response(echoed)
        if "echo_sse" in scenario:
            return await self._stream(request, _echo_stream(echoed, int(scenario.get("split") or 0)), scenario)
        if "hang" in scenario:
            if payload.get("stream"):
                response = web.StreamResponse(headers={"content-type": "text/event-stream"})
                await response.prepare(request)
            await asyncio.sleep(3600)
        if "status" in scenario:
            status = int(scenario["status"])
            name = _error_fixture(status, openai)
            headers = {"request-id": "req_fake_error"}
            if status == 429:
                headers["retry-after"] = "7"
            return web.Response(status=status, body=(FIXTURES / name).read_bytes(), content_type="application/json", headers=headers)
        if "big" in scenario:
            size = int(scenario["big"])
            return web.Response(body=b'{"pad": "' + b"x" * size + b'"}', content_type="application/json")

        if request.path == "/v1/embeddings" and "fixture" not in scenario:
            headers = {"x-request-id": "req_fake_embeddings"}
            return web.json_response(_embeddings(payload), headers=headers)
        fixture = scenario.get("fixture") or _default_fixture(request.path, bool(payload.get("stream")))
        if fixture is None:
            return web.json_response({"type": "error", "error": {"type": "not_found_error", "message": "fake: no such route"}}, status=404)
        raw = (FIXTURES / fixture).read_bytes()
        if request.path == "/v1/chat/completions" and not _include_usage(payload):
            raw = _without_usage(raw)
        if fixture.endswith(".sse"):
            return await self._stream(request, raw, scenario)
        headers = {"request-id": "req_fake_1"}
        if "cut" in scenario:
            response = web.StreamResponse(headers={**headers, "content-type": "application/json"})
            response.content_length = len(raw)
            await response.prepare(request)
            await response.write(raw[: int(scenario["cut"])])
            request.transport.close()
            return response
        if "cors" in scenario:
            # What a proxy must not pass on: the provider's CORS policy and its hop-by-hop
            # headers, those Connection names included.
            headers.update(
                {
                    "access-control-allow-origin": "*",
                    "access-control-allow-headers": "*",
                    "connection": "x-upstream-hop",
                    "x-upstream-hop": "1",
                }
            )
        return web.Response(body=raw, content_type="application/json", headers=headers)

    async def _stream(self, request, raw: bytes, scenario: dict) -> web.StreamResponse:
        events = [e + b"\n\n" for e in raw.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream; charset=utf-8", "request-id": "req_fake_stream"}
        )
        await response.prepare(request)
        delay = int(scenario.get("delay", 0)) / 1000
        token = scenario.get("lockstep")
        drop = int(scenario["drop"]) if "drop" in scenario else None
        try:
            for index, event in enumerate(events):
                if drop is not None and index == drop:
                    request.transport.close()
                    return response
                if token is not None and index > 0:
                    if not await self._wait_for_release(token, request):
                        self.disconnected.append(token)
                        return response
                elif delay and index > 0:
                    await asyncio.sleep(delay)
                if token is not None:
                    self.sent[token] = index + 1
                await response.write(event)
            await response.write_eof()
        except ConnectionResetError:  # the proxy hung up (aiohttp's ClientConnectionResetError)
            self.disconnected.append(token or request.path)
        except asyncio.CancelledError:
            self.disconnected.append(token or request.path)
            raise
        return response


    async def _wait_for_release(self, token: str, request) -> bool:
        """Wait for release(token); False if the proxy hung up meanwhile."""
        gate = self._gate(token)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not gate.is_set():
            transport = request.transport
            if transport is None or transport.is_closing() or loop.time() > deadline:
                return False
            try:
                await asyncio.wait_for(gate.wait(), 0.05)
            except TimeoutError:
                pass
        gate.clear()
        return True


def _echo_stream(echoed: dict, split: int = 0) -> bytes:
    """An Anthropic message stream whose text is `echoed` as JSON (in deltas of `split`
    characters, or one), with usage."""
    text = json.dumps(echoed)
    pieces = [text[i : i + split] for i in range(0, len(text), split)] if split else [text]
    deltas = [
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
        for piece in pieces
    ]
    events = [
        ("message_start", {"type": "message_start", "message": {
            "model": "claude-haiku-4-5-20251001", "id": "msg_echo", "type": "message", "role": "assistant",
            "content": [], "stop_reason": None, "usage": {"input_tokens": 25, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        *deltas,
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 15}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def _include_usage(payload: dict) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _without_usage(raw: bytes) -> bytes:
    """A chat stream as OpenAI sends it without include_usage: no usage chunk, no usage key."""
    if not raw.lstrip().startswith(b"data:"):
        return raw  # a JSON body: usage is always there
    events = []
    for event in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = event.strip().removeprefix(b"data:").strip()
        if data.startswith(b"{"):
            chunk = json.loads(data)
            if chunk.get("usage") and not chunk.get("choices"):
                continue
            chunk.pop("usage", None)
            event = b"data: " + json.dumps(chunk, separators=(",", ":")).encode()
        if event.strip():
            events.append(event.strip())
    return b"\n\n".join(events) + b"\n\n"


def _embeddings(payload: dict) -> dict:
    """An embeddings response in OpenAI's shape: 4 dimensions per input, 5 tokens per input."""
    inputs = payload.get("input")
    inputs = inputs if isinstance(inputs, list) else [inputs]
    vector = [0.25, -0.5, 0.125, 1.0]
    as_base64 = payload.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": (
                base64.b64encode(struct.pack("<4f", *vector)).decode() if as_base64 else vector
            ),
        }
        for index in range(len(inputs))
    ]
    tokens = 5 * len(inputs)
    return {
        "object": "list",
        "data": data,
        "model": payload.get("model") or "text-embedding-3-small",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _parse_scenario(header: str) -> dict:
    scenario = {}
    for part in filter(None, (p.strip() for p in header.split(","))):
        name, _, value = part.partition("=")
        scenario[name] = value
    return scenario


def _default_fixture(path: str, stream: bool) -> str | None:
    if path == "/v1/messages":
        return "anthropic_stream_text.sse" if stream else "anthropic_nonstream_basic.json"
    if path == "/v1/messages/count_tokens":
        return "anthropic_count_tokens_response.json"
    if path == "/v1/chat/completions":
        return "openai_chat_stream_include_usage.sse" if stream else "openai_chat_nonstream.json"
    if path == "/v1/responses":
        return "openai_responses_stream.sse" if stream else "openai_responses_nonstream.json"
    return None


def _error_fixture(status: int, openai: bool) -> str:
    if openai:
        return "openai_error_429.json"
    return "anthropic_error_429.json" if status == 429 else "anthropic_error_400.json"
