"""Price one call: a pure function of (model, usage, time) over the dated price table.

Costs are in cents, as Decimals computed exactly from the table's decimal strings: no
float ever, no rounding. A model, token class or fee the table does not price gives None
(the caller flags the call as unpriced), never a made-up zero.
"""

from datetime import datetime
from decimal import Decimal

from usage.records import TokenUsage

from .table import TOKEN_CLASSES, PriceCard, Rates, model_resolve

_ZERO = Decimal(0)


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
) -> tuple[PriceCard, Rates, Decimal | None] | None:
    card = price_card_for(model, at, provider)
    if card is None:
        return None
    # Long-context tiers bill the whole request at the higher rates once the prompt
    # (uncached input + cache writes + cache reads) strictly exceeds the threshold.
    rates = card.rates_for(prompt_tokens=usage.prompt_tokens, fast=usage.speed == "fast")
    geo = card.inference_geo_us if usage.inference_geo == "us" else None
    return card, rates, geo


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


def cost_compute(
    *, model: str, usage: TokenUsage, at: datetime, provider: str | None = None
) -> Decimal | None:
    """Return the cost of one call in cents, or None if the table cannot price it."""
    pricing = _pricing(model, usage, at, provider)
    if pricing is None:
        return None
    card, rates, geo = pricing
    total = _ZERO
    for tokens, rate in zip(_token_counts(usage), rates.cents_per_token):
        if tokens:
            if rate is None:
                return None
            total += tokens * rate
    if geo is not None:
        total *= geo
    # Server tool fees are per request and not geo-multiplied (as Claude Code computes it).
    fees = _fees(card, usage)
    if fees is None:
        return None
    return total + fees[0] + fees[1]


def cost_breakdown(
    *, model: str, usage: TokenUsage, at: datetime, provider: str | None = None
) -> dict[str, Decimal] | None:
    """Return the cost in cents per token class and server tool, summing to cost_compute.

    Token classes already carry the inference-geo multiplier; keys: input, output,
    cache_write_5m, cache_write_1h, cache_read, web_search, web_fetch.
    """
    pricing = _pricing(model, usage, at, provider)
    if pricing is None:
        return None
    card, rates, geo = pricing
    parts: dict[str, Decimal] = {}
    for name, tokens, rate in zip(TOKEN_CLASSES, _token_counts(usage), rates.cents_per_token):
        if not tokens:
            parts[name] = _ZERO
            continue
        if rate is None:
            return None
        parts[name] = tokens * rate if geo is None else tokens * rate * geo
    fees = _fees(card, usage)
    if fees is None:
        return None
    parts["web_search"], parts["web_fetch"] = fees
    return parts


def cache_savings_compute(
    *, model: str, usage: TokenUsage, at: datetime, provider: str | None = None
) -> Decimal | None:
    """Return the cents cache reads saved against paying the input price for those tokens."""
    pricing = _pricing(model, usage, at, provider)
    if pricing is None:
        return None
    _card, rates, geo = pricing
    if not usage.cache_read_tokens:
        return _ZERO
    input_rate, read_rate = rates.cents_per_token[0], rates.cents_per_token[4]
    if input_rate is None or read_rate is None:
        return None
    saved = usage.cache_read_tokens * (input_rate - read_rate)
    return saved if geo is None else saved * geo
