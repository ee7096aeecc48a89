"""Appends entries to the egress ledger from a process of its own (for the concurrency test):
``python ledger_worker.py URL COUNT TENANT``."""

from __future__ import annotations

import asyncio
import sys

from atomic.audit import EgressLedger
from atomic.models import Residency
from atomic.models._openai import Egress
from atomic.storage import Store


async def main(url: str, count: int, tenant: str) -> None:
    store = await Store.open(url, migrate=False)
    try:
        ledger = EgressLedger(store.engine)
        for i in range(count):
            await ledger.append(
                Egress(
                    model_id="peer:cloud",
                    endpoint_host="api.example.com",
                    residency=Residency.CLOUD,
                    region=None,
                    payload=f"{tenant} {i}".encode(),
                    task_input={"text": "x"},
                    tenant=tenant,
                )
            )
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
