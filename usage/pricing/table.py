"""Load and index the dated price table in prices.json.

The file keeps prices as decimal strings (USD per million tokens); loading turns them into
Decimals once, with the per-token rate in cents precomputed, so pricing a call is a handful
of multiplications.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

PRICES_PATH = Path(__file__).with_name("prices.json")

# Token classes in TokenUsage order. OpenAI's names map onto the same slots: cached input
# is a cache read, its 30-minute and 12-hour cache writes fill the 5m and 1h slots.
TOKEN_CLASSES = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_PRICE_KEYS = {
    "anthropic": TOKEN_CLASSES,
    "openai": ("input", "output", "cache_write_30m", "cache_write_12h", "cached_input"),
}
_TIER_THRESHOLD_KEY = {"anthropic": "above_prompt_tokens", "openai": "above_input_tokens"}

# USD per million tokens -> cents per token.
_USD_PER_MTOK_TO_CENTS_PER_TOKEN = Decimal("1E-4")
_CENTS_PER_USD = Decimal(100)

_DATED_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
# Bedrock: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-3-haiku-...-v1:0".
_BEDROCK = re.compile(r"^(?:[a-z-]+\.)?anthropic\.(?P<name>.+?)(?:-v\d+(?::\d+)?)?$")
# Vertex: "claude-sonnet-4-5@20250929", "claude-3-5-sonnet-v2@20241022".
_VERTEX = re.compile(r"^(?P<name>.+?)(?:-v\d+)?@(?P<version>\d{8})$")


class PriceTableError(ValueError):
    """prices.json is malformed."""


@dataclass(frozen=True, slots=True)
class Rates:
    """Prices of one card, tier or fast mode, in USD per million tokens (None: not sold)."""

    input: Decimal | None
    output: Decimal | None
    cache_write_5m: Decimal | None
    cache_write_1h: Decimal | None
    cache_read: Decimal | None
    # The same prices in cents per token, in TOKEN_CLASSES order.
    cents_per_token: tuple[Decimal | None, ...]

    def usd_per_mtok(self) -> dict[str, Decimal | None]:
        return {name: getattr(self, name) for name in TOKEN_CLASSES}


@dataclass(frozen=True, slots=True)
class LongContextTier:
    """Rates for the whole request once its prompt exceeds `above_prompt_tokens`."""

    above_prompt_tokens: int
    rates: Rates


@dataclass(frozen=True, slots=True)
class PriceCard:
    """Everything needed to price a call to one model from `effective_from` on."""

    effective_from: datetime | None
    rates: Rates
    # Highest threshold first, so the first one exceeded is the one that applies.
    long_context: tuple[LongContextTier, ...]
    fast: Rates | None
    inference_geo_us: Decimal | None
    web_search_cents: Decimal | None
    web_fetch_cents: Decimal | None

    def rates_for(self, *, prompt_tokens: int, fast: bool) -> Rates:
        if fast and self.fast is not None:
            return self.fast
        for tier in self.long_context:
            if prompt_tokens > tier.above_prompt_tokens:
                return tier.rates
        return self.rates


@dataclass(frozen=True, slots=True)
class ModelPrices:
    key: str
    provider: str
    ids: tuple[str, ...]
    confidence: str
    # Oldest first.
    cards: tuple[PriceCard, ...]

    def card_at(self, at: datetime) -> PriceCard | None:
        """Return the latest card in effect at `at` (a naive datetime is taken as UTC)."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        for card in reversed(self.cards):
            if card.effective_from is None or card.effective_from <= at:
                return card
        return None


@dataclass(frozen=True, slots=True)
class PriceTable:
    about: dict
    models: dict[str, ModelPrices]
    # Every id and alias, lower-cased -> the models carrying it.
    by_id: dict[str, tuple[ModelPrices, ...]]

    def resolve(self, model: str, provider: str | None = None) -> ModelPrices | None:
        return _resolve(self, model.strip().lower(), (provider or "").lower())


def _decimal(value, where: str) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PriceTableError(f"{where}: prices are decimal strings, got {value!r}")
    try:
        result = Decimal(value)
    except ArithmeticError as exc:
        raise PriceTableError(f"{where}: not a decimal: {value!r}") from exc
    if not result.is_finite() or result < 0:
        raise PriceTableError(f"{where}: not a price: {value!r}")
    return result


def _rates(data: dict, provider: str, where: str) -> Rates:
    keys = _PRICE_KEYS[provider]
    missing = [k for k in keys if k not in data]
    if missing:
        raise PriceTableError(f"{where}: missing {', '.join(missing)}")
    values = [_decimal(data[k], f"{where}.{k}") for k in keys]
    cents = tuple(None if v is None else v * _USD_PER_MTOK_TO_CENTS_PER_TOKEN for v in values)
    return Rates(*values, cents_per_token=cents)


def _effective_from(value, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise PriceTableError(f"{where}: effective_from is an ISO date or null") from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _fee_cents(fees: dict, name: str, where: str) -> Decimal | None:
    usd = _decimal(fees.get(name), f"{where}.{name}")
    return None if usd is None else usd * _CENTS_PER_USD


def _card(data: dict, model: dict, provider: str, where: str) -> PriceCard:
    tiers = []
    for i, tier in enumerate(data.get("long_context") or ()):
        tier_where = f"{where}.long_context[{i}]"
        threshold = tier.get(_TIER_THRESHOLD_KEY[provider])
        if not isinstance(threshold, int) or threshold <= 0:
            raise PriceTableError(f"{tier_where}: needs {_TIER_THRESHOLD_KEY[provider]}")
        tiers.append(LongContextTier(threshold, _rates(tier, provider, tier_where)))
    tiers.sort(key=lambda t: t.above_prompt_tokens, reverse=True)
    fast = data.get("fast")
    # A card may override the model-wide multiplier and fees from its date on.
    geo = data.get("inference_geo_us", model.get("inference_geo_us"))
    fees = data.get("server_tools_usd_per_request", model.get("server_tools_usd_per_request"))
    fees = fees or {}
    return PriceCard(
        effective_from=_effective_from(data.get("effective_from"), where),
        rates=_rates(data, provider, where),
        long_context=tuple(tiers),
        fast=None if fast is None else _rates(fast, provider, f"{where}.fast"),
        inference_geo_us=_decimal(geo, f"{where}.inference_geo_us"),
        web_search_cents=_fee_cents(fees, "web_search", f"{where}.server_tools"),
        web_fetch_cents=_fee_cents(fees, "web_fetch", f"{where}.server_tools"),
    )


def table_parse(raw: dict) -> PriceTable:
    """Validate and index a parsed prices.json."""
    models: dict[str, ModelPrices] = {}
    by_id: dict[str, list[ModelPrices]] = {}
    for key, data in raw.get("models", {}).items():
        provider = data.get("provider")
        if provider not in _PRICE_KEYS:
            raise PriceTableError(f"{key}: unknown provider {provider!r}")
        cards = tuple(
            _card(card, data, provider, f"{key}.cards[{i}]")
            for i, card in enumerate(data.get("cards") or ())
        )
        if not cards:
            raise PriceTableError(f"{key}: no price cards")
        dates = [c.effective_from for c in cards]
        if any(d is None for d in dates[1:]) or dates[1:] != sorted(dates[1:]) or (
            len(set(dates)) != len(dates)
        ):
            raise PriceTableError(f"{key}: cards must be in date order, only the first undated")
        ids = tuple(dict.fromkeys([key, *data.get("ids", ())]))
        entry = ModelPrices(key, provider, ids, data.get("confidence", ""), cards)
        models[key] = entry
        for model_id in ids:
            holders = by_id.setdefault(model_id.lower(), [])
            if any(h.provider == provider for h in holders):
                raise PriceTableError(f"{model_id}: listed twice for {provider}")
            holders.append(entry)
    return PriceTable(
        about=raw.get("_about", {}),
        models=models,
        by_id={k: tuple(v) for k, v in by_id.items()},
    )


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    """Return the product's price table, read from prices.json once per process."""
    with PRICES_PATH.open(encoding="utf-8") as f:
        # Prices stay strings in JSON (a float would be refused by _decimal).
        raw = json.load(f)
    return table_parse(raw)


def _lookup(table: PriceTable, name: str, provider: str) -> ModelPrices | None:
    holders = table.by_id.get(name)
    if not holders:
        return None
    if provider:
        for holder in holders:
            if holder.provider == provider:
                return holder
    return holders[0]


def _candidates(name: str):
    """Yield the names a model id may be listed under, most specific first."""
    yield name
    if "/" in name:
        # "anthropic/claude-...", "openai/gpt-4o"
        name = name.rsplit("/", 1)[1]
        yield name
    if match := _BEDROCK.match(name):
        name = match["name"]
        yield name
    elif match := _VERTEX.match(name):
        yield f"{match['name']}-{match['version']}"
        name = match["name"]
        yield name
    stripped = _DATED_SUFFIX.sub("", name)
    if stripped != name:
        yield stripped


def _resolve(table: PriceTable, name: str, provider: str) -> ModelPrices | None:
    if not name:
        return None
    for candidate in _candidates(name):
        if found := _lookup(table, candidate, provider):
            return found
    return None


@lru_cache(maxsize=4096)
def model_resolve(model: str, provider: str | None = None) -> ModelPrices | None:
    """Find a model's prices by id, alias, dated id or provider-prefixed id; None if unknown."""
    return price_table().resolve(model, provider)
