"""What a request body says about the call: a pure function of the bytes, for either provider.

The worker derives these fields when it writes a log (never the hot path, which forwards
the body unread); they are returned, never written into the record that carried them.
"""

from dataclasses import dataclass

import orjson

from providers.base import as_dict, as_str


@dataclass(slots=True, frozen=True)
class RequestInfo:
    """The request's model, whether it streams, and who sent it (Claude Code's ids)."""

    model: str = ""
    stream: bool = False
    metadata_user_id: str = ""
    claude_code_session_id: str = ""
    # OpenAI's end-user id (`safety_identifier`, or the older `user`).
    end_user: str = ""
    # OpenAI chat: stream_options.include_usage, without which a stream reports no usage.
    include_usage: bool = False
    # The first user text, shortened: what a Claude Code session is named after.
    first_prompt: str = ""
    # Anthropic `speed` ("fast" or "standard") and, per server-side fallback model, the
    # `speed` its `fallbacks` entry sets for that attempt: how a declined attempt ran.
    speed: str = ""
    fallback_speeds: tuple[tuple[str, str], ...] = ()


_EMPTY_REQUEST = RequestInfo()


def request_info(body: bytes) -> RequestInfo:
    """Inspect a request body (either provider); an unreadable body gives an empty RequestInfo."""
    try:
        obj = orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError):
        return _EMPTY_REQUEST
    return request_info_from(obj)


def request_info_from(obj) -> RequestInfo:
    """What a request body says, from the body parsed."""
    if type(obj) is not dict:
        return _EMPTY_REQUEST
    user_id = as_str(as_dict(obj.get("metadata")).get("user_id")) or ""
    return RequestInfo(
        model=as_str(obj.get("model")) or "",
        stream=obj.get("stream") is True,
        metadata_user_id=user_id,
        claude_code_session_id=claude_code_session_id(user_id),
        end_user=as_str(obj.get("safety_identifier")) or as_str(obj.get("user")) or "",
        include_usage=as_dict(obj.get("stream_options")).get("include_usage") is True,
        first_prompt=first_prompt(obj.get("messages")),
        speed=as_str(obj.get("speed")) or "",
        fallback_speeds=_fallback_speeds(obj.get("fallbacks")),
    )


def _fallback_speeds(fallbacks) -> tuple[tuple[str, str], ...]:
    if type(fallbacks) is not list:
        return ()
    return tuple(
        (as_str(entry.get("model")) or "", as_str(entry.get("speed")) or "")
        for entry in fallbacks
        if type(entry) is dict and as_str(entry.get("speed"))
    )


FIRST_PROMPT_LENGTH = 80


def first_prompt(messages, limit: int = FIRST_PROMPT_LENGTH) -> str:
    """The first user text of a conversation, at most `limit` characters, or ""."""
    if type(messages) is not list:
        return ""
    for message in messages:
        if type(message) is not dict or message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks if type(blocks) is list else ():
            if type(block) is not dict or block.get("type") != "text":
                continue
            text = (as_str(block.get("text")) or "").strip()
            # Claude Code prepends system reminders as their own text blocks.
            if text and not text.startswith("<"):
                return text if len(text) <= limit else text[: limit - 1] + "…"
    return ""


def claude_code_session_id(user_id: str) -> str:
    """The Claude Code session id carried in `metadata.user_id`, or "".

    Claude Code 2.1.78+ sends a JSON string with `session_id`; earlier versions send
    `user_<hex>_account_<uuid>_session_<uuid>` (the account part may be empty).
    """
    if not user_id:
        return ""
    if user_id[0] == "{":
        try:
            obj = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return ""
        return (as_str(as_dict(obj).get("session_id")) or "").strip()
    if user_id.startswith("user_"):
        _, sep, session = user_id.rpartition("_session_")
        if sep:
            return session.strip()
    return ""


def claude_code_person(user_id: str) -> str:
    """Who Claude Code's `metadata.user_id` names: `account:<uuid>` when signed in to an
    account, else `device:<id>` (its install's id); "" when it is not Claude Code's form.
    """
    if user_id[:1] == "{":
        try:
            obj = as_dict(orjson.loads(user_id))
        except orjson.JSONDecodeError:
            return ""
        account, device = as_str(obj.get("account_uuid")), as_str(obj.get("device_id"))
    elif user_id.startswith("user_") and "_account_" in user_id:
        device, _, rest = user_id[len("user_"):].partition("_account_")
        account = rest.partition("_session_")[0]
    else:
        return ""
    if account and account.strip():
        return f"account:{account.strip()}"
    return f"device:{device.strip()}" if device and device.strip() else ""
