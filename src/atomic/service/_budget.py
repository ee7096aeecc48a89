"""Per-key budgets: a call's cost cap is what its key has left, and its cost is charged after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from atomic._client import Atomic
from atomic.errors import AtomicError
from atomic.service._deps import Principal
from atomic.service._keys import KeyStore
from atomic.service._problems import ServiceError

__all__ = ["Cap", "charged"]


@dataclass
class Cap:
    max_cost_usd: float | None
    cost_usd: float = 0.0


@asynccontextmanager
async def charged(
    atomic: Atomic, keys: KeyStore | None, who: Principal, max_cost_usd: float | None
) -> AsyncIterator[Cap]:
    """Refuse a spent key; cap the call at what is left; charge what the run cost, even when
    it failed (its attempts were paid for)."""
    left = who.budget_left_usd
    if left is not None and left <= 0:
        raise ServiceError(
            403,
            "key.budget_exhausted",
            f"key {who.key_id} has spent its budget",
            hint="raise the key's budget or use another key",
            context={"key_id": who.key_id},
        )
    cap = Cap(max_cost_usd if left is None else min(left, max_cost_usd or left))
    try:
        yield cap
    except AtomicError as exc:
        run_id = exc.context.get("run_id")
        if keys is not None and who.key_id is not None and isinstance(run_id, str):
            run = await atomic.get_run(run_id, tenant=who.tenant)
            await keys.charge(who.key_id, run.cost_usd)
        raise
    if keys is not None and who.key_id is not None:
        await keys.charge(who.key_id, cap.cost_usd)
