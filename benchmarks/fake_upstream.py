"""A fast fake Anthropic upstream for the proxy benchmark (its own process).

Raw asyncio protocol + httptools on uvloop: a few tens of microseconds of CPU per request,
so it is never what limits a run (the benchmark prints its direct throughput, which is
bounded by the load client, not by this server).

POST /v1/messages
  body without `"stream": true` -> a small Anthropic message JSON with usage
  body with `"stream": true`    -> an SSE stream of 8 events, chunked, one event per
                                   write: message_start, content_block_start, 3 x
                                   content_block_delta, content_block_stop,
                                   message_delta, message_stop
  `x-bench-delay-ms: N` (a client header, forwarded by the proxy) sleeps N ms between
  SSE events; 0 (the default) writes them back to back.
  `x-bench-stream-id: ID` with a delay: the time.monotonic() at which each event was
  written is kept (CLOCK_MONOTONIC, the same clock in every process of the machine)...
GET /_emits/ID
  ... and returned here as a JSON list, so the client can tell when each event left the
  upstream without anything in the stream itself changing.
Anything else -> 404. Loopback only; usage: fake_upstream.py --port PORT
"""

import argparse
import asyncio
import os
import json
import signal
import sys
import time
from collections import OrderedDict

import httptools

MESSAGE = (
    b'{"model":"claude-sonnet-4-5-20250929","id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message",'
    b'"role":"assistant","content":[{"type":"text","text":"Prompt caching stores a processed '
    b"prefix of your prompt so that later requests with the same prefix are billed at the "
    b'cache-read rate instead of the full input rate."}],"stop_reason":"end_turn",'
    b'"stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,'
    b'"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,'
    b'"ephemeral_1h_input_tokens":0},"output_tokens":503,"service_tier":"standard"}}'
)

EVENTS = [
    b'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929",'
    b'"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],'
    b'"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2095,'
    b'"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":'
    b'{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":1,'
    b'"service_tier":"standard"}}}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Prompt caching stores a processed prefix"}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":" of your prompt so that later requests"}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":" are billed at the cache-read rate."}}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"output_tokens":503}}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]

# Headers shaped like the real API's (about as many), so header handling costs what it does.
COMMON_HEADERS = (
    b"date: Mon, 01 Jan 2029 00:00:00 GMT\r\n"
    b"request-id: req_011CTzVqYb3GmN1d9FJyqkRt\r\n"
    b"anthropic-organization-id: 5f4a3a6e-0000-4000-8000-000000000000\r\n"
    b"anthropic-ratelimit-requests-limit: 4000\r\n"
    b"anthropic-ratelimit-requests-remaining: 3999\r\n"
    b"anthropic-ratelimit-requests-reset: 2029-01-01T00:00:01Z\r\n"
    b"anthropic-ratelimit-input-tokens-limit: 2000000\r\n"
    b"anthropic-ratelimit-input-tokens-remaining: 2000000\r\n"
    b"anthropic-ratelimit-output-tokens-limit: 400000\r\n"
    b"anthropic-ratelimit-output-tokens-remaining: 400000\r\n"
    b"via: 1.1 google\r\n"
    b"cf-ray: 8f0000000000000-FRA\r\n"
    b"x-robots-tag: none\r\n"
    b"server: cloudflare\r\n"
)

NONSTREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + COMMON_HEADERS
    + b"content-length: %d\r\n\r\n" % len(MESSAGE)
    + MESSAGE
)
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n" + COMMON_HEADERS + b"transfer-encoding: chunked\r\n\r\n"
)
STREAM_CHUNKS = [b"%x\r\n%s\r\n" % (len(e), e) for e in EVENTS]
STREAM_END = b"0\r\n\r\n"
EMITS: "OrderedDict[bytes, list[float]]" = OrderedDict()
EMITS_KEPT = 10_000
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class Upstream(asyncio.Protocol):
    __slots__ = ("transport", "parser", "url", "body", "delay", "stream_id", "busy", "pending", "closed")

    def connection_made(self, transport):
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body = []
        self.delay = 0
        self.stream_id = None
        self.busy = False  # a delayed stream is being written
        self.pending = []  # requests that arrived meanwhile (never, with these clients)
        self.closed = False

    def connection_lost(self, exc):
        self.closed = True

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()

    def on_message_begin(self):
        self.url = b""
        self.body = []
        self.delay = 0
        self.stream_id = None

    def on_url(self, url):
        self.url += url

    def on_header(self, name, value):
        if len(name) == 16 and name.lower() == b"x-bench-delay-ms":
            self.delay = int(value) / 1000
        elif len(name) == 17 and name.lower() == b"x-bench-stream-id":
            self.stream_id = value

    def on_body(self, body):
        self.body.append(body)

    def on_message_complete(self):
        request = (self.url, b"".join(self.body), self.delay, self.stream_id, self.parser.should_keep_alive())
        if self.busy:
            self.pending.append(request)
        else:
            self.respond(*request)

    def respond(self, url, body, delay, stream_id, keep_alive):
        if url.startswith(b"/_emits/"):
            data = json.dumps(EMITS.get(url[8:], [])).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(data), data)
            )
        elif not url.startswith(b"/v1/messages") or url.startswith(b"/v1/messages/"):
            self.transport.write(NOT_FOUND)
        elif b'"stream":true' in body or b'"stream": true' in body:
            if delay:
                self.busy = True
                asyncio.get_running_loop().create_task(self.stream_slowly(delay, stream_id, keep_alive))
                return
            write = self.transport.write
            write(STREAM_HEAD)
            for chunk in STREAM_CHUNKS:
                write(chunk)
            write(STREAM_END)
        else:
            self.transport.write(NONSTREAM_RESPONSE)
        if not keep_alive:
            self.transport.close()

    async def stream_slowly(self, delay, stream_id, keep_alive):
        write = self.transport.write
        emits = []
        if stream_id is not None:
            EMITS[stream_id] = emits
            if len(EMITS) > EMITS_KEPT:
                EMITS.popitem(last=False)
        emits.append(time.monotonic())
        write(STREAM_HEAD + STREAM_CHUNKS[0])
        for chunk in STREAM_CHUNKS[1:]:
            await asyncio.sleep(delay)
            if self.closed:
                return
            emits.append(time.monotonic())
            write(chunk)
        write(STREAM_END)
        if not keep_alive:
            self.transport.close()
        self.busy = False
        while self.pending and not self.busy and not self.closed:
            self.respond(*self.pending.pop(0))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"fake upstream listening on http://{host}:{port} pid {os.getpid()}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("the fake upstream listens on loopback only")
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port))
    except ImportError:
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
