"""Anthropic Messages API: the final Message rebuilt from a raw SSE stream (read path)."""

import orjson

from providers.base import as_dict, as_int, as_str, event_type
from providers.sse import SSESplitter


def reassemble(sse: bytes) -> dict:
    """Rebuild the final Message object from a raw SSE stream, as far as it goes."""
    splitter = SSESplitter(max_event_bytes=len(sse) + 1)
    events = splitter.feed(sse) + splitter.flush()
    message: dict = {
        "id": "",
        "type": "message",
        "role": "assistant",
        "model": "",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {},
    }
    blocks: dict[int, dict] = {}
    partial_json: dict[int, list[str]] = {}

    for name, data in events:
        name = event_type(name, data)
        if name == "ping" or name == "message_stop":
            continue
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue  # a truncated last event
        if type(obj) is not dict:
            continue
        if name == "message_start":
            start = as_dict(obj.get("message"))
            message.update({k: v for k, v in start.items() if k != "content"})
            message["usage"] = dict(as_dict(start.get("usage")))
        elif name == "content_block_start":
            index = as_int(obj.get("index"))
            block = obj.get("content_block")
            if index is not None and type(block) is dict:
                blocks[index] = dict(block)
        elif name == "content_block_delta":
            index = as_int(obj.get("index"))
            if index in blocks:
                _apply_delta(blocks[index], as_dict(obj.get("delta")), partial_json, index)
        elif name == "content_block_stop":
            index = as_int(obj.get("index"))
            if index in blocks:
                _finish_input(blocks[index], partial_json.pop(index, None))
        elif name == "message_delta":
            delta = as_dict(obj.get("delta"))
            for key in ("stop_reason", "stop_sequence", "stop_details"):
                if delta.get(key) is not None:
                    message[key] = delta[key]
            for key, value in as_dict(obj.get("usage")).items():
                if value is not None:
                    message["usage"][key] = value
        elif name == "error":
            message["error"] = obj.get("error")

    # Blocks a truncated stream never closed.
    for index, parts in partial_json.items():
        _finish_input(blocks[index], parts)
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


def _apply_delta(block: dict, delta: dict, partial_json: dict, index: int) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = (block.get("text") or "") + (as_str(delta.get("text")) or "")
    elif kind == "thinking_delta":
        block["thinking"] = (block.get("thinking") or "") + (as_str(delta.get("thinking")) or "")
    elif kind == "signature_delta":
        block["signature"] = (block.get("signature") or "") + (
            as_str(delta.get("signature")) or ""
        )
    elif kind == "input_json_delta":
        partial_json.setdefault(index, []).append(as_str(delta.get("partial_json")) or "")
    elif kind == "citations_delta":
        citations = block.get("citations")
        if type(citations) is not list:
            citations = block["citations"] = []
        citations.append(delta.get("citation"))


def _finish_input(block: dict, parts: list[str] | None) -> None:
    """Parse a tool block's concatenated input JSON; keep the raw text if it is cut short."""
    raw = "".join(parts or ())
    if not raw.strip():
        return
    try:
        block["input"] = orjson.loads(raw)
    except orjson.JSONDecodeError:
        block["partial_json"] = raw

