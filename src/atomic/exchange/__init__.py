"""The exchange: every call is an auction among the registered models, explained after."""

from atomic.exchange._auction import TaskPolicy
from atomic.exchange._exchange import Exchange, Result
from atomic.exchange._health import BreakerState, Health
from atomic.exchange._objectives import MaxQuality, MinCost, Objective, Utility
from atomic.exchange._pacing import Budget, Pacer
from atomic.exchange._record import AttemptSummary, AuctionRecord, BidRecord, ExclusionRecord

__all__ = [
    "AttemptSummary",
    "AuctionRecord",
    "BidRecord",
    "BreakerState",
    "Budget",
    "Exchange",
    "ExclusionRecord",
    "Health",
    "MaxQuality",
    "MinCost",
    "Objective",
    "Pacer",
    "Result",
    "TaskPolicy",
    "Utility",
]
