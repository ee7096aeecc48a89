"""The store as the call path's durable subscriber."""

from __future__ import annotations

from atomic.events import AuctionCleared, Event, RunRefused, RunSettled
from atomic.storage import Store

__all__ = ["StoreRecorder"]


class StoreRecorder:
    """Writes what the call path publishes: a run starts with its auction record (so no run
    is ever stored without the auction that chose its model), a refused call is a run with
    its exclusions, and a settled run is written with its attempts, outcome and learning in
    one transaction. Subscribed as durable: the call waits for it, and fails if it fails."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, event: Event) -> None:
        if isinstance(event, AuctionCleared):
            await self.store.start_run(event.run, auction=event.record.model_dump(mode="json"))
        elif isinstance(event, RunRefused):
            await self.store.record_run(event.run, auction=event.record.model_dump(mode="json"))
        elif isinstance(event, RunSettled):
            await self.store.finish_run(
                event.run,
                attempts=event.attempts,
                auction=event.record.model_dump(mode="json"),
                outcome=event.outcome,
                learning=event.learning,
            )
