"""List prices of Claude models, in one place: every design call is priced from here.

USD per million tokens, from Anthropic's public model pages (checked 2026-11-24). Cache writes (5-minute
TTL) cost 1.25x the input price and cache reads 0.1x, which is why the stable prefix
(system prompt and tools) is marked for caching.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

MILLION = Decimal(1_000_000)


class Price(BaseModel):
    input: Decimal
    output: Decimal

    @property
    def cache_write(self) -> Decimal:
        return self.input * Decimal("1.25")

    @property
    def cache_read(self) -> Decimal:
        return self.input * Decimal("0.1")


PRICES: dict[str, Price] = {
    "claude-fable-5-1": Price(input=Decimal(10), output=Decimal(50)),
    "claude-opus-5": Price(input=Decimal(5), output=Decimal(25)),
    "claude-opus-4-5": Price(input=Decimal(5), output=Decimal(25)),
    "claude-opus-4-1": Price(input=Decimal(15), output=Decimal(75)),
    "claude-sonnet-5-5": Price(input=Decimal(2), output=Decimal(10)),
    "claude-sonnet-5": Price(input=Decimal(2), output=Decimal(10)),
    "claude-sonnet-4-6": Price(input=Decimal(3), output=Decimal(15)),
    "claude-sonnet-4-5": Price(input=Decimal(3), output=Decimal(15)),
    "claude-haiku-4-5": Price(input=Decimal(1), output=Decimal(5)),
}


class UnknownModel(ValueError):
    pass


def price_of(model: str) -> Price:
    """Dated model ids (claude-sonnet-4-5-20250929) cost what their family does."""
    for family in sorted(PRICES, key=len, reverse=True):
        if model == family or model.startswith(family + "-"):
            return PRICES[family]
    raise UnknownModel(f"no list price for model {model!r}; known: {', '.join(sorted(PRICES))}")


def cost_usd(model: str, input_tokens: int, output_tokens: int, cache_write: int = 0, cache_read: int = 0) -> Decimal:
    price = price_of(model)
    total = (
        input_tokens * price.input + output_tokens * price.output
        + cache_write * price.cache_write + cache_read * price.cache_read
    )
    return total / MILLION
