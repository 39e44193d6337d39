"""Split one call into the parts the provider bills apart, each run by one model.

A plain call is one part: its top-level usage, at the response's model. An Anthropic
response may carry `usage.iterations` (field names from anthropic-sdk-python
`types/beta/beta_iterations_usage.py`), each entry with its own `type`, model and tokens:

- `message`: a sampling iteration of the executor. The top-level usage is the sum of them
  ("Advisor tool › Usage and billing": top-level fields are the executor's tokens only),
  https://platform.claude.com/docs/en/agents-and-tools/tool-use/advisor-tool
- `advisor_message`: an advisor sub-inference, billed on top of the executor at the
  advisor model's rates with its own input, output and cache tokens (same page).
- `compaction`: "the top-level input_tokens and output_tokens do not include compaction
  iteration usage"; the summary is produced by the request's own model, and the total is
  the sum across every entry ("Compaction › Understanding usage"),
  https://platform.claude.com/docs/en/build-with-claude/compaction
- `fallback_message`: the server-side fallback attempt that served the response, in place
  of a `message` entry; each declined hop keeps a `message` entry. Every attempt that
  produced output is billed at the rates of the model that ran it; one declined before
  any output is not billed, except for the refusal categories that are always billed; the
  top-level usage describes only the attempt that served the message ("Refusals and
  fallback › Billing and rate limits", "Fallback credit"),
  https://platform.claude.com/docs/en/build-with-claude/refusals-and-fallback
  https://platform.claude.com/docs/en/build-with-claude/fallback-credit

Refusals (`stop_reason: "refusal"`, `stop_details.category`): declined before any output,
a call is billed only for BILLED_REFUSAL_CATEGORIES; `cyber`, `general_harms` and a null
category are free. A refusal after output was streamed bills the input and that output.

How ties and silences in the docs are decided is written in prices.json (`_about`):
served iterations are priced one by one when they add up to the top level (else the top
level is priced as one part), long-context tiers are chosen per part, fast mode applies to
the attempts that ran in it, never to an advisor.
"""

from dataclasses import dataclass

from providers.tokens import TokenUsage

BILLED_REFUSAL_CATEGORIES = frozenset({"bio", "frontier_llm", "reasoning_extraction"})

# Part kinds, as stored in UsageLog.cost_parts, with how pages name them.
PART_LABELS = {
    "message": "Executor",
    "advisor_message": "Advisor",
    "compaction": "Compaction",
    "fallback_message": "Fallback attempt (served)",
    "declined": "Declined attempt",
    "server_tools": "Server tools",
}

_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
)


@dataclass(frozen=True, slots=True)
class Part:
    """One billed (or, with a note saying why, unbilled) part of a call."""

    kind: str
    model: str
    # The part's tokens, with the modifiers it ran under (speed, inference_geo).
    usage: TokenUsage
    billed: bool = True
    note: str = ""


def call_parts(
    usage: TokenUsage,
    *,
    model: str = "",
    request_model: str = "",
    request_speed: str = "",
    fallback_speeds: tuple[tuple[str, str], ...] = (),
) -> list[Part]:
    """The parts of one call, in the order they ran.

    `model` is the model that served the response (default: usage.model),
    `request_model` the one the request asked for (default: what the meter saw, then
    `model`); `request_speed` and `fallback_speeds` are the request body's `speed` and its
    `fallbacks` entries' (providers.requests.RequestInfo), for declined attempts.
    """
    model = model or usage.model
    request_model = usage.request_model or request_model or model
    iterations = usage.iterations
    served_kind = (
        "fallback_message"
        if any(entry["type"] == "fallback_message" for entry in iterations)
        else "message"
    )
    served = [entry for entry in iterations if entry["type"] == served_kind]
    billed, note = _served_billing(usage)
    one_by_one = bool(served) and _adds_up(served, usage)

    parts: list[Part] = []
    top_level = Part(served_kind, model, _with(usage, usage, usage.speed), billed, note)
    if not one_by_one and not any(entry["type"] == served_kind for entry in iterations):
        parts.append(top_level)
    placed = False
    hops = _Hops(usage, request_model, request_speed, dict(fallback_speeds))
    for entry in iterations:
        kind = entry["type"]
        if kind == served_kind:
            if one_by_one:
                part_usage = _with(_entry_usage(entry), usage, usage.speed)
                parts.append(Part(kind, entry["model"] or model, part_usage, billed, note))
            elif not placed:
                parts.append(top_level)
            placed = True
        elif kind == "advisor_message":
            # The advisor is a sub-inference of its own: never in the executor's fast mode.
            parts.append(Part(kind, entry["model"], _with(_entry_usage(entry), usage, "")))
        elif kind == "compaction":
            speed = request_speed if served_kind == "fallback_message" else usage.speed
            parts.append(Part(kind, request_model, _with(_entry_usage(entry), usage, speed)))
        elif kind == "message":  # a hop declined before the fallback that served
            parts.append(hops.part(entry))
        # An entry type this code does not know is left out: its tokens are not known to
        # be billed on top (and a new billed type would show in the docs first).
    if usage.web_search_requests or usage.web_fetch_requests:
        tools = TokenUsage(
            model=model,
            web_search_requests=usage.web_search_requests,
            web_fetch_requests=usage.web_fetch_requests,
        )
        parts.append(Part("server_tools", model, tools, billed, note))
    return parts


def _served_billing(usage: TokenUsage) -> tuple[bool, str]:
    """Whether the attempt that returned the message is billed, and a note when it is a refusal."""
    if usage.stop_reason != "refusal":
        return True, ""
    category = usage.refusal_category
    named = category or "no category"
    if usage.output_tokens:
        return True, f"refusal ({named}) after output: input and output so far billed"
    if category in BILLED_REFUSAL_CATEGORIES:
        return True, f"refusal ({named}) before any output: billed for this category"
    return False, f"refusal ({named}) before any output: not billed"


def _adds_up(entries: list[dict], usage: TokenUsage) -> bool:
    return all(sum(entry[name] for entry in entries) == getattr(usage, name) for name in _TOKEN_FIELDS)


def _entry_usage(entry: dict) -> TokenUsage:
    return TokenUsage(model=entry["model"], **{name: entry[name] for name in _TOKEN_FIELDS})


def _with(tokens: TokenUsage, call: TokenUsage, speed: str) -> TokenUsage:
    """A part's usage: its tokens, the call's inference geo, and the speed it ran at."""
    return TokenUsage(
        model=tokens.model,
        inference_geo=call.inference_geo,
        speed=speed,
        **{name: getattr(tokens, name) for name in _TOKEN_FIELDS},
    )


class _Hops:
    """The declined attempts of a server-side fallback, matched to their `fallback` blocks.

    One block per hop, in order; a hop's entries are the consecutive `message` entries of
    one model (a hop can sample several times around server tools).
    """

    def __init__(self, usage: TokenUsage, request_model: str, request_speed: str, speeds: dict):
        self.usage, self.request_model = usage, request_model
        self.request_speed, self.speeds = request_speed, speeds
        self.index, self.model = -1, None

    def part(self, entry: dict) -> Part:
        model = entry["model"] or self.request_model
        if model != self.model:
            self.index, self.model = self.index + 1, model
        fallbacks = self.usage.fallbacks
        category = fallbacks[self.index]["category"] if self.index < len(fallbacks) else None
        named = category or "no category"
        speed = self.request_speed if self.index == 0 else self.speeds.get(model, self.request_speed)
        part_usage = _with(_entry_usage(entry), self.usage, speed)
        if entry["output_tokens"]:
            return Part("declined", model, part_usage, True, f"declined ({named}) after output: billed")
        if category in BILLED_REFUSAL_CATEGORIES:
            note = f"declined ({named}) before any output: billed for this category"
            return Part("declined", model, part_usage, True, note)
        return Part("declined", model, part_usage, False, f"declined ({named}) before any output: not billed")
