"""A call's cost part by part, as UsageLog.cost_parts keeps it and its readers want it.

Each stored part is a JSON object: `part` (a usage.pricing.PART_LABELS kind), `model`,
`billed`, optional `note` and `speed`, the token counts and server tool requests it used
(zeros left out), `cost_cents` (an exact decimal string; null where the table has no
price) and `classes` (cents per token class and server tool, zeros left out).
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from providers.requests import RequestInfo
from providers.tokens import TokenUsage
from usage.money import Money, cents
from usage.pricing import PART_LABELS, CallCost, call_cost, part_cache_savings

COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "web_search_requests",
    "web_fetch_requests",
)


def call_cost_for(
    *, usage: TokenUsage, model: str, at: datetime, provider: str, request: RequestInfo
) -> CallCost:
    """Price a call with what its request body says (the asked model, its speeds)."""
    return call_cost(
        model=model,
        usage=usage,
        at=at,
        provider=provider,
        request_model=request.model,
        request_speed=request.speed,
        fallback_speeds=request.fallback_speeds,
    )


def cost_parts_json(cost: CallCost) -> list[dict]:
    """The parts as UsageLog.cost_parts stores them."""
    stored = []
    for priced in cost.parts:
        part = priced.part
        item = {"part": part.kind, "model": part.model, "billed": part.billed}
        if part.note:
            item["note"] = part.note
        if part.usage.speed:
            item["speed"] = part.usage.speed
        for name in COUNTS:
            value = getattr(part.usage, name)
            if value:
                item[name] = value
        item["cost_cents"] = cents(priced.cost)
        if priced.classes:
            item["classes"] = {k: cents(v) for k, v in priced.classes.items() if v}
        stored.append(item)
    return stored


# The parts the top-level usage (the log's columns) already stands for.
_TOP_LEVEL_KINDS = frozenset({"message", "fallback_message", "server_tools"})


def is_multi_part(parts: list[dict] | None, model: str) -> bool:
    """Whether the log's columns miss some of the call (UsageLog.multi_part)."""
    return any(part["part"] not in _TOP_LEVEL_KINDS or part["model"] != model for part in parts or ())


@dataclass(frozen=True, slots=True)
class StoredPart:
    kind: str
    label: str
    model: str
    billed: bool
    note: str
    speed: str
    counts: dict[str, int]
    cost: Decimal | None
    classes: dict[str, Decimal] = field(default_factory=dict)

    @property
    def money(self) -> Money:
        return Money(self.cost)

    @property
    def cache_write_tokens(self) -> int:
        return self.counts["cache_write_5m_tokens"] + self.counts["cache_write_1h_tokens"]

    def token_usage(self, *, inference_geo: str = "") -> TokenUsage:
        return TokenUsage(model=self.model, speed=self.speed, inference_geo=inference_geo, **self.counts)


def stored_parts(parts: list[dict] | None) -> list[StoredPart]:
    """UsageLog.cost_parts read back ([] for a log written before parts were kept)."""
    result = []
    for item in parts or ():
        cost = item.get("cost_cents")
        result.append(
            StoredPart(
                kind=item.get("part", ""),
                label=PART_LABELS.get(item.get("part", ""), item.get("part", "")),
                model=item.get("model", ""),
                billed=bool(item.get("billed", True)),
                note=item.get("note", ""),
                speed=item.get("speed", ""),
                counts={name: int(item.get(name, 0)) for name in COUNTS},
                cost=None if cost is None else Decimal(cost),
                classes={k: Decimal(v) for k, v in (item.get("classes") or {}).items()},
            )
        )
    return result


def per_model(parts: list[StoredPart], *, priced: bool, at: datetime, inference_geo: str) -> dict:
    """Token counts, cost and cache savings of a call's parts, summed per model.

    Costs count only when the whole call is priced (`priced`): an unpriced call adds no
    cost to any model, not a part of one.
    """
    models: dict[str, dict] = {}
    for part in parts:
        values = models.setdefault(
            part.model,
            {name: 0 for name in COUNTS} | {"cost_cents": Decimal(0), "cache_savings_cents": Decimal(0)},
        )
        for name in COUNTS:
            values[name] += part.counts[name]
        if priced and part.billed and part.cost is not None:
            values["cost_cents"] += part.cost
            if part.counts["cache_read_tokens"]:
                saved = part_cache_savings(
                    model=part.model, usage=part.token_usage(inference_geo=inference_geo), at=at
                )
                values["cache_savings_cents"] += saved or 0
    return models
