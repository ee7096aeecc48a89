"""A key's rate limit is shared by every worker process: counted in the database (SQLite and
PostgreSQL), not in each process."""

from __future__ import annotations

import pytest

from atomic.service._keys import KeyStore
from atomic.service._problems import ServiceError
from atomic.storage import Store


async def test_two_workers_share_one_keys_rate_limit(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        # Two KeyStores on one database: what two uvicorn workers each hold.
        first, second = KeyStore(store.engine), KeyStore(store.engine)
        new = await first.create("acme", rate_per_minute=3)
        header = f"Bearer {new.secret}"
        admitted = [
            await first.authenticate(header, None),
            await second.authenticate(header, None),
            await first.authenticate(header, None),
        ]
        assert {p.tenant for p in admitted} == {"acme"}
        for worker in (first, second):
            with pytest.raises(ServiceError) as refused:
                await worker.authenticate(header, None)
            assert refused.value.status == 429
            assert refused.value.service_code == "key.rate_limited"
            assert refused.value.retry_after is not None
            assert 1 <= refused.value.retry_after <= 60
        # Another key has a budget of requests of its own.
        other = await second.create("acme", rate_per_minute=1)
        assert (await first.authenticate(f"Bearer {other.secret}", None)).key_id == other.key.id
    finally:
        await store.close()
