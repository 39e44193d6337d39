"""Cost of proxied calls, from the product's dated price table (prices.json)."""

from .engine import (
    CLASSES,
    CallCost,
    PricedPart,
    cache_savings_compute,
    call_cost,
    cost_breakdown,
    cost_compute,
    part_cache_savings,
    price_card_for,
)
from .parts import BILLED_REFUSAL_CATEGORIES, PART_LABELS, Part, call_parts
from .table import ModelPrices, PriceCard, Rates, model_resolve, price_table

__all__ = [
    "BILLED_REFUSAL_CATEGORIES",
    "CLASSES",
    "CallCost",
    "ModelPrices",
    "PART_LABELS",
    "Part",
    "PriceCard",
    "PricedPart",
    "Rates",
    "cache_savings_compute",
    "call_cost",
    "call_parts",
    "cost_breakdown",
    "cost_compute",
    "model_resolve",
    "part_cache_savings",
    "price_card_for",
    "price_table",
]
