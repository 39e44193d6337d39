"""Money: costs are stored in cents as exact Decimals. The API and the command line give
them as exact cent strings (`cents`), pages as dollars (`dollars_display`, `Money`), titles
and CSV as exact dollars (`dollars_exact`)."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MAX_DECIMALS = 10
SIGNIFICANT_DIGITS = 3


def cents(value: Decimal | None) -> str | None:
    """A cost in cents as an exact decimal string without exponent or trailing zeros."""
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def dollars_exact(amount_cents: Decimal | None) -> str:
    """Dollars as a plain decimal string with every stored digit: 0.000123 → "0.00000123"."""
    return "" if amount_cents is None else cents(Decimal(amount_cents) / 100)


def dollars_display(amount_cents: Decimal | None) -> str:
    """Dollars for people: cents to two places from $1 up, three significant digits below.

    $12.35, $0.50, $0.0123, $0.0001, $0.00000123; never rounded to a zero that is not.
    """
    if amount_cents is None:
        return "—"
    value = Decimal(amount_cents) / 100
    if value == 0:
        return "$0.00"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1:
        return f"{sign}${value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"
    decimals = min(MAX_DECIMALS, max(2, SIGNIFICANT_DIGITS - 1 - value.adjusted()))
    rounded = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if rounded == 0:
        return f"{sign}<${Decimal(1).scaleb(-MAX_DECIMALS):f}"
    text = format(rounded, "f")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{sign}${whole}.{fraction}"


@dataclass(frozen=True)
class Money:
    """A cost in cents that prints as dollars; `exact` keeps every digit (for titles, CSV)."""

    cents: Decimal | None

    def __str__(self) -> str:
        return dollars_display(self.cents)

    @property
    def exact(self) -> str:
        return f"${dollars_exact(self.cents)}" if self.cents is not None else "unpriced"

    @property
    def known(self) -> bool:
        return self.cents is not None
