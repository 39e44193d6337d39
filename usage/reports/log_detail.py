"""One call, readable: its request and response bodies as conversations, and its cost.

Bodies are stored zlib-compressed and may be truncated (LOG_BODY_MAX_BYTES); whatever
does not parse is still shown raw. A streamed response is shown both as raw SSE and as
the final message rebuilt from it.
"""

import json
import zlib
from dataclasses import dataclass, field
from decimal import Decimal

from proxy.providers.anthropic import reassemble
from proxy.providers.openai import reassemble_chat, reassemble_responses
from usage.models import UsageLog
from usage.pricing import cost_breakdown
from usage.records import TokenUsage
from usage.reports.money import Money

TOKEN_CLASS_LABELS = {
    "input": ("Input", "input_tokens"),
    "output": ("Output", "output_tokens"),
    "cache_write_5m": ("Cache write (5 min)", "cache_write_5m_tokens"),
    "cache_write_1h": ("Cache write (1 hour)", "cache_write_1h_tokens"),
    "cache_read": ("Cache read", "cache_read_input_tokens"),
    "web_search": ("Web search requests", "web_search_requests"),
    "web_fetch": ("Web fetch requests", "web_fetch_requests"),
}


@dataclass
class Block:
    kind: str  # text, thinking, tool_use, tool_result, json, media
    text: str = ""
    title: str = ""


@dataclass
class Message:
    role: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Conversation:
    system: list[Block] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    tools: list[dict] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Body:
    raw: str = ""  # pretty JSON, raw SSE or raw text
    parsed: object = None
    truncated: bool = False
    size: int = 0
    is_stream: bool = False


def _decompress(data) -> str:
    if not data:
        return ""
    try:
        return zlib.decompress(bytes(data)).decode("utf-8", errors="replace")
    except zlib.error:
        # A truncated body may end mid-stream: take what decompresses.
        return zlib.decompressobj().decompress(bytes(data)).decode("utf-8", errors="replace")


def pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _json_body(text: str) -> tuple[object, str]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None, text
    return parsed, pretty(parsed)


def request_body(log: UsageLog) -> Body:
    body = getattr(log, "body", None)
    if body is None:
        return Body()
    parsed, raw = _json_body(_decompress(body.request_body))
    return Body(raw=raw, parsed=parsed, truncated=body.request_truncated, size=body.request_size)


def response_body(log: UsageLog) -> Body:
    body = getattr(log, "body", None)
    if body is None:
        return Body()
    text = _decompress(body.response_body)
    is_stream = "event-stream" in body.response_content_type or (
        log.streamed and text.lstrip().startswith(("event:", "data:"))
    )
    common = dict(truncated=body.response_truncated, size=body.response_size)
    if is_stream:
        return Body(raw=text, parsed=_reassemble(log, text.encode()), is_stream=True, **common)
    parsed, raw = _json_body(text)
    return Body(raw=raw, parsed=parsed, **common)


def _reassemble(log: UsageLog, sse: bytes) -> dict | None:
    if log.provider == "openai":
        if "responses" in log.path:
            return reassemble_responses(sse)
        if "chat/completions" in log.path:
            return reassemble_chat(sse)
        return None
    return reassemble(sse)


# --- Conversations ----------------------------------------------------------------------


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return pretty(content)


def _block(part) -> Block:
    """One content block or part, from either provider, as a displayable block."""
    if isinstance(part, str):
        return Block("text", part)
    if not isinstance(part, dict):
        return Block("json", pretty(part))
    kind = part.get("type", "")
    if kind in ("text", "input_text", "output_text"):
        return Block("text", part.get("text", ""))
    if kind == "thinking":
        return Block("thinking", part.get("thinking", ""), "thinking")
    if kind == "redacted_thinking":
        return Block("thinking", "(redacted)", "redacted thinking")
    if kind in ("tool_use", "server_tool_use"):
        raw = part.get("input", part.get("partial_json", {}))
        return Block(
            "tool_use",
            raw if isinstance(raw, str) else pretty(raw),
            f"{kind}: {part.get('name', '')}",
        )
    if kind == "tool_result" or kind.endswith("_tool_result"):
        return Block(
            "tool_result",
            _text_of(part.get("content", "")),
            f"{kind} ({part.get('tool_use_id', '')})",
        )
    if kind in ("image", "document", "image_url", "input_image", "input_file"):
        source = part.get("source") or {}
        media = source.get("media_type") or source.get("type") or kind
        return Block("media", f"[{kind}: {media}]", kind)
    if kind == "function_call":
        return Block(
            "tool_use", part.get("arguments", ""), f"function_call: {part.get('name', '')}"
        )
    if kind == "function_call_output":
        return Block(
            "tool_result",
            _text_of(part.get("output", "")),
            f"function_call_output ({part.get('call_id', '')})",
        )
    if kind == "reasoning":
        summary = "\n".join(
            s.get("text", "") for s in part.get("summary") or () if isinstance(s, dict)
        )
        return Block("thinking", summary or "(reasoning)", "reasoning")
    return Block("json", pretty(part), kind or "content")


def _blocks(content) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, list):
        return [_block(part) for part in content]
    return [_block(content)]


def _openai_message(message: dict) -> Message:
    result = Message(role=str(message.get("role", "")), blocks=_blocks(message.get("content")))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        result.blocks.append(
            Block(
                "tool_use", function.get("arguments", ""), f"tool_call: {function.get('name', '')}"
            )
        )
    if message.get("tool_call_id"):
        result.role = f"{result.role} · {message['tool_call_id']}"
    return result


PARAM_KEYS = (
    "model",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "temperature",
    "top_p",
    "stream",
    "tool_choice",
    "thinking",
    "reasoning",
    "metadata",
)


def request_conversation(log: UsageLog, parsed) -> Conversation | None:
    """The request as system prompt, messages with roles, tools and parameters."""
    if not isinstance(parsed, dict):
        return None
    conversation = Conversation()
    conversation.params = [
        (key, parsed[key] if isinstance(parsed[key], str) else json.dumps(parsed[key]))
        for key in PARAM_KEYS
        if key in parsed
    ]
    if log.provider == "openai":
        if parsed.get("instructions"):
            conversation.system = _blocks(parsed["instructions"])
        items = parsed.get("messages") or parsed.get("input") or []
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and "role" in item:
                message = _openai_message(item)
                if message.role in ("system", "developer") and not conversation.messages:
                    conversation.system += message.blocks
                else:
                    conversation.messages.append(message)
            else:
                conversation.messages.append(Message(role="item", blocks=[_block(item)]))
    else:
        conversation.system = _blocks(parsed.get("system"))
        for message in parsed.get("messages") or ():
            if isinstance(message, dict):
                conversation.messages.append(
                    Message(
                        role=str(message.get("role", "")), blocks=_blocks(message.get("content"))
                    )
                )
    for tool in parsed.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        schema = function.get("input_schema") or function.get("parameters")
        conversation.tools.append(
            {
                "name": function.get("name") or tool.get("type", ""),
                "description": function.get("description", ""),
                "schema": pretty(schema) if schema else "",
            }
        )
    return conversation


def response_message(log: UsageLog, parsed) -> Message | None:
    """The assistant's answer from a response object (or the one rebuilt from a stream)."""
    if not isinstance(parsed, dict):
        return None
    if log.provider == "openai":
        if parsed.get("choices"):
            first = parsed["choices"][0] if isinstance(parsed["choices"][0], dict) else {}
            return _openai_message(first.get("message") or first.get("delta") or {})
        if isinstance(parsed.get("output"), list):
            blocks = []
            for item in parsed["output"]:
                if isinstance(item, dict) and item.get("type") == "message":
                    blocks += _blocks(item.get("content"))
                else:
                    blocks.append(_block(item))
            return Message(role="assistant", blocks=blocks)
        if parsed.get("error"):
            return Message(role="error", blocks=[Block("json", pretty(parsed["error"]))])
        return None
    if parsed.get("type") == "error" or (parsed.get("error") and not parsed.get("content")):
        return Message(role="error", blocks=[Block("json", pretty(parsed.get("error")))])
    if "content" in parsed:
        return Message(
            role=str(parsed.get("role") or "assistant"), blocks=_blocks(parsed["content"])
        )
    return None


# --- Cost per token class ---------------------------------------------------------------


@dataclass
class CostLine:
    label: str
    quantity: int
    cost: Money


def log_usage(log: UsageLog) -> TokenUsage:
    return TokenUsage(
        model=log.model,
        input_tokens=log.input_tokens,
        output_tokens=log.output_tokens,
        cache_write_5m_tokens=log.cache_write_5m_tokens,
        cache_write_1h_tokens=log.cache_write_1h_tokens,
        cache_read_tokens=log.cache_read_input_tokens,
        reasoning_tokens=log.reasoning_tokens,
        web_search_requests=log.web_search_requests,
        web_fetch_requests=log.web_fetch_requests,
        inference_geo=log.inference_geo,
        service_tier=log.service_tier,
        speed=log.speed,
    )


def cost_lines(log: UsageLog) -> list[CostLine]:
    """Tokens and cost per token class (cost None where the table cannot price the call)."""
    parts = None
    if log.model and not log.unpriced:
        parts = cost_breakdown(model=log.model, usage=log_usage(log), at=log.started_at)
    lines = []
    for key, (label, attribute) in TOKEN_CLASS_LABELS.items():
        quantity = getattr(log, attribute)
        cost = parts.get(key, Decimal(0)) if parts is not None else None
        if quantity or (cost and cost > 0):
            lines.append(CostLine(label=label, quantity=quantity, cost=Money(cost)))
    return lines
