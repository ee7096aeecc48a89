"""The exchange: which model serves each call, and the record of that choice."""

from atomic.exchange._exchange import Exchange, Exclusion, Result

__all__ = ["Exchange", "Exclusion", "Result"]
