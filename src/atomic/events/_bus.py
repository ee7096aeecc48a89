"""The bus: durable subscribers first, in order, then observers that may not fail the call."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from atomic.events._events import Event

__all__ = ["EventBus", "Handler"]

log = logging.getLogger("atomic.events")

Handler = Callable[[Event], Awaitable[None] | None]


class EventBus:
    """Delivers each event to its subscribers.

    A *durable* subscriber (the store) is awaited and its error fails the publishing stage:
    a run is persisted before it is acknowledged. Other subscribers (traces, metrics, live
    feeds) run after it; an error of theirs is logged, never raised into the call.
    """

    def __init__(self) -> None:
        self._durable: list[Handler] = []
        self._observers: list[Handler] = []

    def subscribe(self, handler: Handler, *, durable: bool = False) -> Callable[[], None]:
        """Add ``handler``; returns a function that removes it."""
        handlers = self._durable if durable else self._observers
        handlers.append(handler)
        return lambda: handlers.remove(handler)

    @property
    def observed(self) -> bool:
        """Whether anything but the durable subscribers listens (events worth building)."""
        return bool(self._observers)

    async def publish(self, event: Event) -> None:
        for handler in self._durable:
            result = handler(event)
            if inspect.isawaitable(result):
                await result
        for handler in list(self._observers):
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("subscriber %r failed on %s", handler, type(event).__name__)
