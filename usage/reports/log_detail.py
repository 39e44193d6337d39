"""One call, readable: its request and response bodies as conversations, and its cost.

Bodies are decoded and streams reassembled by the same selectors as the usage API
(usage.selectors); this module shapes them for reading. Bodies may be truncated
(LOG_BODY_MAX_BYTES): whatever does not parse is still shown raw.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal

from usage.models import UsageLog
from usage.money import Money
from usage.selectors.bodies import usage_log_bodies
from usage.selectors.logs import usage_log_cost_breakdown, usage_log_token_usage

TOKEN_CLASS_LABELS = {
    "input": "Input",
    "output": "Output",
    "cache_write_5m": "Cache write (5 min)",
    "cache_write_1h": "Cache write (1 hour)",
    "cache_read": "Cache read",
    "web_search": "Web search requests",
    "web_fetch": "Web fetch requests",
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
    parsed: object = None  # the JSON document, or a stream's reassembled message
    truncated: bool = False
    size: int = 0
    is_stream: bool = False
    omitted: bool = False  # left out on purpose (store_bodies, x-codecosts-omit)
    missing_pieces: int = 0  # of a request the body store could not rebuild


def pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _raw(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else pretty(value)


def log_bodies(log: UsageLog) -> tuple[Body, Body]:
    """The request and response bodies, decoded as the usage API decodes them."""
    bodies = usage_log_bodies(log)
    omitted = getattr(getattr(log, "body", None), "omitted", "")  # no body row: none
    request = Body(
        raw=_raw(bodies.request_body),
        parsed=bodies.request_body if not isinstance(bodies.request_body, str) else None,
        truncated=bodies.request_truncated,
        size=bodies.request_size,
        omitted=omitted in ("request", "all"),
        missing_pieces=bodies.request_missing_pieces,
    )
    is_stream = log.streamed or bodies.response_message is not None
    json_body = bodies.response_body if not isinstance(bodies.response_body, str) else None
    parsed = bodies.response_message if is_stream else json_body
    response = Body(
        raw=_raw(bodies.response_body),
        parsed=parsed,
        truncated=bodies.response_truncated,
        size=bodies.response_size,
        is_stream=is_stream,
        omitted=omitted in ("response", "all"),
    )
    return request, response


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


def cost_lines(log: UsageLog) -> list[CostLine]:
    """Tokens and cost per token class (cost None where the table cannot price the call)."""
    parts = usage_log_cost_breakdown(log)
    usage = usage_log_token_usage(log)
    quantities = {
        "input": usage.input_tokens,
        "output": usage.output_tokens,
        "cache_write_5m": usage.cache_write_5m_tokens,
        "cache_write_1h": usage.cache_write_1h_tokens,
        "cache_read": usage.cache_read_tokens,
        "web_search": usage.web_search_requests,
        "web_fetch": usage.web_fetch_requests,
    }
    lines = []
    for key, label in TOKEN_CLASS_LABELS.items():
        cost = parts.get(key, Decimal(0)) if parts is not None else None
        if quantities[key] or (cost and cost > 0):
            lines.append(CostLine(label=label, quantity=quantities[key], cost=Money(cost)))
    return lines
