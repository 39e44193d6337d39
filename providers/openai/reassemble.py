"""OpenAI Chat Completions and Responses: the final object rebuilt from a raw SSE stream
(read path)."""

import orjson

from providers.base import as_dict, as_int, as_str, event_type
from providers.openai.meter import RESPONSE_END
from providers.sse import SSESplitter


def _events(sse: bytes) -> list[tuple[str, bytes]]:
    splitter = SSESplitter(max_event_bytes=len(sse) + 1)
    return splitter.feed(sse) + splitter.flush()


def _loads(data: bytes) -> dict | None:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if type(obj) is dict else None


def reassemble_chat(sse: bytes) -> dict:
    """Rebuild a chat.completion object from a raw chat SSE stream, as far as it goes."""
    result: dict = {
        "id": "",
        "object": "chat.completion",
        "created": 0,
        "model": "",
        "choices": [],
        "usage": None,
    }
    choices: dict[int, dict] = {}
    calls: dict[int, dict[int, dict]] = {}
    for _, data in _events(sse):
        obj = _loads(data)
        if obj is None:
            continue  # [DONE], or a truncated last chunk
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if obj.get(key) is not None:
                result[key] = obj[key]
        if type(obj.get("usage")) is dict:
            result["usage"] = obj["usage"]
        if type(obj.get("error")) is dict:
            result["error"] = obj["error"]
        for choice in obj.get("choices") or ():
            choice = as_dict(choice)
            index = as_int(choice.get("index")) or 0
            entry = choices.get(index)
            if entry is None:
                entry = choices[index] = {
                    "index": index,
                    "message": {"role": "assistant", "content": None},
                    "finish_reason": None,
                }
            message = entry["message"]
            delta = as_dict(choice.get("delta"))
            if as_str(delta.get("role")):
                message["role"] = delta["role"]
            for key in ("content", "refusal"):
                text = as_str(delta.get(key))
                if text is not None:
                    message[key] = (message.get(key) or "") + text
            for call in delta.get("tool_calls") or ():
                _add_tool_call_delta(calls.setdefault(index, {}), as_dict(call))
            if choice.get("finish_reason") is not None:
                entry["finish_reason"] = choice["finish_reason"]
    for index, by_position in calls.items():
        choices[index]["message"]["tool_calls"] = [by_position[i] for i in sorted(by_position)]
    result["choices"] = [choices[i] for i in sorted(choices)]
    return result


def _add_tool_call_delta(calls: dict[int, dict], delta: dict) -> None:
    position = as_int(delta.get("index"))
    if position is None:
        position = len(calls)
    call = calls.get(position)
    if call is None:
        call = calls[position] = {
            "id": "",
            "type": "function",
            "function": {"name": "", "arguments": ""},
        }
    if as_str(delta.get("id")):
        call["id"] = delta["id"]
    if as_str(delta.get("type")):
        call["type"] = delta["type"]
    function = as_dict(delta.get("function"))
    for key in ("name", "arguments"):
        text = as_str(function.get(key))
        if text:
            call["function"][key] += text


def reassemble_responses(sse: bytes) -> dict:
    """The response object of a Responses stream; if it never finished, what was streamed.

    The fallback is the last response snapshot seen (from response.created/in_progress)
    with `output` rebuilt from the output items and text deltas, plus `output_text`.
    """
    snapshot: dict = {}
    items: dict[int, dict] = {}
    finished_items: set[int] = set()
    texts: dict[int, dict[int, list[str]]] = {}
    for name, data in _events(sse):
        obj = _loads(data)
        if obj is None:
            continue
        name = event_type(name, data)
        if name in RESPONSE_END and type(obj.get("response")) is dict:
            return obj["response"]
        if name in ("response.created", "response.in_progress", "response.queued"):
            snapshot = as_dict(obj.get("response"))
            continue
        position = as_int(obj.get("output_index"))
        if name == "response.output_item.added" and position is not None:
            items.setdefault(position, as_dict(obj.get("item")))
        elif name == "response.output_item.done" and position is not None:
            items[position] = as_dict(obj.get("item"))
            finished_items.add(position)
        elif name == "response.output_text.delta" and position is not None:
            part = as_int(obj.get("content_index")) or 0
            texts.setdefault(position, {}).setdefault(part, []).append(
                as_str(obj.get("delta")) or ""
            )
        elif name == "error":
            snapshot = {**snapshot, "error": obj.get("error") or obj}

    output = []
    for position in sorted(items.keys() | texts.keys()):
        item = dict(items.get(position) or {"type": "message", "role": "assistant"})
        if position not in finished_items and position in texts:
            item["content"] = [
                {"type": "output_text", "annotations": [], "text": "".join(parts)}
                for _, parts in sorted(texts[position].items())
            ]
        output.append(item)
    result = dict(snapshot)
    result["output"] = output
    result["output_text"] = "".join(
        as_str(as_dict(part).get("text")) or ""
        for item in output
        if item.get("type") == "message"
        for part in (item.get("content") or ())
        if as_dict(part).get("type") == "output_text"
    )
    return result
