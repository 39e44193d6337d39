"""Record what the real Claude Code CLI sends when it spawns subagents.

    python scripts/record_claude_code.py /path/to/claude tests/fixtures/claude_code/subagents.json

Runs `claude -p` against a scripted Messages API on loopback (never the real provider):
the main conversation's first turn answers with two calls of the subagent tool, each
subagent answers with text, and every other call gets a short text. Each request is
kept (method, path, headers without credentials, body) for tests to replay through the
proxy. The headers Codecosts reads are sent through ANTHROPIC_CUSTOM_HEADERS, as a
user would.
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from aiohttp import web

SUBAGENT_TOOLS = ("Task", "Agent")
CUSTOM_HEADERS = "x-codecosts-user: alice\nx-codecosts-tags: refactor,backend\nx-codecosts-property-repo: codecosts"
SECRET_HEADERS = {"x-api-key", "authorization"}


def _sse(message: dict, blocks: list[dict]) -> bytes:
    def event(name, data):
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    out = [event("message_start", {"type": "message_start", "message": message})]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            out.append(event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
            out.append(event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}}))
        else:
            start = {**block, "input": {}}
            out.append(event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
            out.append(event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    out.append(event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 12}}))
    out.append(event("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def _answer(payload: dict, headers) -> list[dict]:
    tools = {tool.get("name") for tool in payload.get("tools") or []}
    subagent_tool = next((name for name in SUBAGENT_TOOLS if name in tools), None)
    last = (payload.get("messages") or [{}])[-1]
    content = last.get("content")
    has_tool_result = isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") == "tool_result" for part in content
    )
    if subagent_tool and "x-claude-code-agent-id" not in headers and not has_tool_result:
        return [
            {"type": "tool_use", "id": f"toolu_rec_{n}", "name": subagent_tool,
             "input": {"description": f"Look {n}", "prompt": f"Say only: subagent {n} done.",
                       "subagent_type": "general-purpose"}}
            for n in (1, 2)
        ]
    return [{"type": "text", "text": "done"}]


async def main(claude: str, out: Path) -> None:
    received = []

    async def handle(request: web.Request):
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS}
        received.append({"method": request.method, "path": request.path_qs, "headers": headers,
                         "body": body.decode("utf-8")})
        if request.path.endswith("/count_tokens"):
            return web.json_response({"input_tokens": 100})
        if request.method != "POST" or not request.path.endswith("/v1/messages"):
            return web.json_response({"ok": True})
        payload = json.loads(body)
        message = {"id": f"msg_rec_{len(received)}", "type": "message", "role": "assistant",
                   "model": payload["model"], "content": [], "stop_reason": None,
                   "usage": {"input_tokens": 100, "output_tokens": 1, "cache_read_input_tokens": 0,
                             "cache_creation_input_tokens": 0}}
        blocks = _answer(payload, request.headers)
        if not payload.get("stream"):
            message.update(content=blocks, stop_reason="end_turn", usage={**message["usage"], "output_tokens": 12})
            return web.json_response(message)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_sse(message, blocks))
        return response

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as home:
        env = {
            "PATH": os.environ["PATH"], "HOME": home, "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
            "ANTHROPIC_API_KEY": "sk-ant-recording-not-a-key", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "ANTHROPIC_CUSTOM_HEADERS": CUSTOM_HEADERS, "CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1",
        }
        proc = await asyncio.create_subprocess_exec(
            claude, "-p", "Spawn two general-purpose subagents, then summarise.",
            "--allowedTools", "Task,Agent", env=env, cwd=home,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 180)
    await runner.cleanup()
    version = subprocess.run([claude, "--version"], capture_output=True, text=True).stdout.strip()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"claude_code": version, "requests": received}, indent=1) + "\n")
    print(f"{len(received)} requests from {version} (exit {proc.returncode}) -> {out}")
    print(stdout.decode()[-500:], stderr.decode()[-500:], file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
