"""Typed events of the call path, and the bus their subscribers hang on.

The stages of a call (eligibility and bids, clearing, attempts and cascade, settlement),
feedback and each step of a workflow emit an event; the store, traces, metrics, logs and live
feeds subscribe. None of them is called from inside a stage.

```python
from atomic.events import RunSettled

async def on_event(event):
    if isinstance(event, RunSettled):
        print(event.run.id, event.run.status, event.run.cost_usd)

atomic.exchange.events.subscribe(on_event)
```
"""

from atomic.events._bus import EventBus, Handler
from atomic.events._events import (
    AttemptFinished,
    AuctionCleared,
    BreakerChanged,
    BudgetPaced,
    Event,
    FeedbackApplied,
    RunRefused,
    RunSettled,
    StepFinished,
    StepStarted,
)

__all__ = [
    "AttemptFinished",
    "AuctionCleared",
    "BreakerChanged",
    "BudgetPaced",
    "Event",
    "EventBus",
    "FeedbackApplied",
    "Handler",
    "RunRefused",
    "RunSettled",
    "StepFinished",
    "StepStarted",
]
