"""Price one call: a pure function of (model, usage, time) over the dated price table.

Costs are in cents, as Decimals computed exactly from the table's decimal strings: no
float ever, no rounding. A call is priced part by part (usage.pricing.parts: the top
level, advisor calls, compaction, fallback attempts, server tools), each with the card of
the model that ran it and its own modifiers (inference geo, long-context tier, fast mode),
and the parts are summed. A model, token class or fee the table does not price in any
billed part gives None for the whole call (the caller flags it as unpriced), never a
made-up zero and never a partial sum.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from usage.records import TokenUsage

from .parts import Part, call_parts
from .table import TOKEN_CLASSES, PriceCard, Rates, model_resolve

_ZERO = Decimal(0)
CLASSES = (*TOKEN_CLASSES, "web_search", "web_fetch")


def price_card_for(model: str, at: datetime, provider: str | None = None) -> PriceCard | None:
    """Return the card that prices `model` at `at`, or None for an unknown model."""
    entry = model_resolve(model, provider)
    return None if entry is None else entry.card_at(at)


def _token_counts(usage: TokenUsage) -> tuple[int, ...]:
    # TOKEN_CLASSES order.
    return (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_write_5m_tokens,
        usage.cache_write_1h_tokens,
        usage.cache_read_tokens,
    )


def _pricing(
    model: str, usage: TokenUsage, at: datetime, provider: str | None
) -> tuple[PriceCard, tuple[Decimal | None, ...], Decimal | None] | None:
    entry = model_resolve(model, provider)
    card = None if entry is None else entry.card_at(at)
    if card is None:
        return None
    # Long-context tiers bill the whole part at the higher rates once its prompt
    # (uncached input + cache writes + cache reads) strictly exceeds the threshold.
    rates: Rates = card.rates_for(prompt_tokens=usage.prompt_tokens, fast=usage.speed == "fast")
    cents = rates.cents_per_token
    if entry.provider == "openai" and cents[2] is None:
        # Before GPT-5.6 OpenAI sells no cache write: a reported write costs plain input,
        # as it did when it was counted in the input tokens (prices.json `_about`).
        cents = (cents[0], cents[1], cents[0], *cents[3:])
    geo = card.inference_geo_us if usage.inference_geo == "us" else None
    return card, cents, geo


def _fees(card: PriceCard, usage: TokenUsage) -> tuple[Decimal, Decimal] | None:
    """Server tool fees in cents (web search, web fetch); None if one used is unpriced."""
    search = fetch = _ZERO
    if usage.web_search_requests:
        if card.web_search_cents is None:
            return None
        search = usage.web_search_requests * card.web_search_cents
    if usage.web_fetch_requests:
        if card.web_fetch_cents is None:
            return None
        fetch = usage.web_fetch_requests * card.web_fetch_cents
    return search, fetch


def _classes(model: str, usage: TokenUsage, at: datetime, provider: str | None) -> dict | None:
    """Cents per class (CLASSES) for one part; None if the table cannot price it."""
    pricing = _pricing(model, usage, at, provider)
    if pricing is None:
        return None
    card, cents, geo = pricing
    parts: dict[str, Decimal] = {}
    for name, tokens, rate in zip(TOKEN_CLASSES, _token_counts(usage), cents):
        if not tokens:
            parts[name] = _ZERO
            continue
        if rate is None:
            return None
        parts[name] = tokens * rate if geo is None else tokens * rate * geo
    # Server tool fees are per request and not geo-multiplied (as Claude Code computes it).
    fees = _fees(card, usage)
    if fees is None:
        return None
    parts["web_search"], parts["web_fetch"] = fees
    return parts


@dataclass(frozen=True, slots=True)
class PricedPart:
    part: Part
    # Cents per class; None when the part is billed and the table cannot price it; all
    # zeros for a part that is not billed.
    classes: dict[str, Decimal] | None

    @property
    def cost(self) -> Decimal | None:
        return None if self.classes is None else sum(self.classes.values(), _ZERO)


@dataclass(frozen=True, slots=True)
class CallCost:
    """A call's parts with their costs; totals are None unless every billed part is priced."""

    parts: tuple[PricedPart, ...]

    @property
    def priced(self) -> bool:
        return all(part.classes is not None for part in self.parts)

    @property
    def total(self) -> Decimal | None:
        if not self.priced:
            return None
        return sum((part.cost for part in self.parts), _ZERO)

    def by_class(self) -> dict[str, Decimal] | None:
        if not self.priced:
            return None
        return {name: sum((p.classes[name] for p in self.parts), _ZERO) for name in CLASSES}

    def by_model(self) -> dict[str, Decimal] | None:
        if not self.priced:
            return None
        models: dict[str, Decimal] = {}
        for part in self.parts:
            if part.part.billed:
                models[part.part.model] = models.get(part.part.model, _ZERO) + part.cost
        return models


def call_cost(
    *,
    model: str,
    usage: TokenUsage,
    at: datetime,
    provider: str | None = None,
    request_model: str = "",
    request_speed: str = "",
    fallback_speeds: tuple[tuple[str, str], ...] = (),
) -> CallCost:
    """Price every part of one call (see usage.pricing.parts for what the parts are)."""
    priced = []
    parts = call_parts(
        usage,
        model=model,
        request_model=request_model,
        request_speed=request_speed,
        fallback_speeds=fallback_speeds,
    )
    same = model_resolve(model, provider) if model else None
    for part in parts:
        if part.model != model and same is not None and model_resolve(part.model, provider) is same:
            # One model under two spellings (an alias, a dated id): the call's own.
            part = replace(part, model=model)
        if part.billed:
            classes = _classes(part.model, part.usage, at, provider)
        else:
            classes = dict.fromkeys(CLASSES, _ZERO)
        priced.append(PricedPart(part, classes))
    return CallCost(tuple(priced))


def cost_compute(
    *, model: str, usage: TokenUsage, at: datetime, provider: str | None = None
) -> Decimal | None:
    """Return the cost of one call in cents, or None if the table cannot price it."""
    return call_cost(model=model, usage=usage, at=at, provider=provider).total


def cost_breakdown(
    *, model: str, usage: TokenUsage, at: datetime, provider: str | None = None
) -> dict[str, Decimal] | None:
    """Return the cost in cents per token class and server tool, summing to cost_compute.

    Token classes already carry the inference-geo multiplier; keys: input, output,
    cache_write_5m, cache_write_1h, cache_read, web_search, web_fetch (summed over parts).
    """
    return call_cost(model=model, usage=usage, at=at, provider=provider).by_class()


def part_cache_savings(
    *, model: str, usage: TokenUsage, at: datetime, provider: str | None = None
) -> Decimal | None:
    """The cents one part's cache reads saved against paying its input price for them."""
    pricing = _pricing(model, usage, at, provider)
    if pricing is None:
        return None
    _card, cents, geo = pricing
    if not usage.cache_read_tokens:
        return _ZERO
    input_rate, read_rate = cents[0], cents[4]
    if input_rate is None or read_rate is None:
        return None
    saved = usage.cache_read_tokens * (input_rate - read_rate)
    return saved if geo is None else saved * geo


def cache_savings_compute(
    *, model: str, usage: TokenUsage, at: datetime, provider: str | None = None
) -> Decimal | None:
    """Return the cents cache reads saved against paying the input price for those tokens
    (over the call's billed parts, each at its own model's prices)."""
    total = _ZERO
    for part in call_parts(usage, model=model):
        if not part.billed or not part.usage.cache_read_tokens:
            if part.billed and model_resolve(part.model, provider) is None:
                return None
            continue
        saved = part_cache_savings(model=part.model, usage=part.usage, at=at, provider=provider)
        if saved is None:
            return None
        total += saved
    return total
