"""Cost of proxied calls, from the product's dated price table (prices.json)."""

from .engine import cache_savings_compute, cost_breakdown, cost_compute, price_card_for
from .table import ModelPrices, PriceCard, Rates, model_resolve, price_table

__all__ = [
    "ModelPrices",
    "PriceCard",
    "Rates",
    "cache_savings_compute",
    "cost_breakdown",
    "cost_compute",
    "model_resolve",
    "price_card_for",
    "price_table",
]
