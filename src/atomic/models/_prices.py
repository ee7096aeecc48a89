"""The dated price table (``prices.toml``): what widely used hosted models cost, and since when.

Used for a model whose configuration gives no price. Every entry carries its source and the date
its numbers were read, and the :class:`~atomic.models.Price` it yields says so in ``source``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from datetime import date
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from atomic.models._card import Price

__all__ = ["PriceEntry", "lookup_price", "price_table"]

_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


class PriceEntry(BaseModel):
    """One model's published price."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    source: str
    date: date

    def price(self) -> Price:
        return Price(
            input_per_mtok=self.input_per_mtok,
            output_per_mtok=self.output_per_mtok,
            source=f"price table: {self.provider} {self.model}, {self.source}, "
            f"read {self.date.isoformat()}",
        )


@functools.cache
def price_table() -> dict[str, PriceEntry]:
    """Every entry of ``prices.toml``, by model name."""
    text = resources.files("atomic.models").joinpath("prices.toml").read_text(encoding="utf-8")
    table: dict[str, PriceEntry] = {}
    for provider, section in tomllib.loads(text).items():
        for model, numbers in section["models"].items():
            table[model] = PriceEntry(
                provider=provider,
                model=model,
                input_per_mtok=numbers["input"],
                output_per_mtok=numbers["output"],
                source=section["source"],
                date=section["date"],
            )
    return table


def lookup_price(model: str) -> PriceEntry | None:
    """The table's entry for a model name (``gpt-4o-mini``, ``openai/gpt-4o-mini``,
    ``gpt-4o-mini-2024-07-18``), or None.

    >>> lookup_price("openai/gpt-4o-mini").output_per_mtok
    0.6
    """
    table = price_table()
    name = model.rsplit("/", 1)[-1].lower()
    for candidate in (name, _SNAPSHOT.sub("", name), name.removesuffix("-latest")):
        if candidate in table:
            return table[candidate]
    return None
