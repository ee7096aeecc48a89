"""API keys: created once and shown once, stored only as SHA-256 hashes, each bound to a tenant.

A key may be an admin key (it may act as any tenant with ``X-Atomic-Tenant``), carry a budget in
USD (every run's cost is charged to it; a spent key gets 403, and a run's cost cap is what is
left) and a rate limit per minute (429 with ``Retry-After``). Rate limits are counted in the
database, so every worker process of the service shares them.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from atomic.service._deps import Principal
from atomic.service._problems import ServiceError
from atomic.storage import utcnow
from atomic.storage._tables import ApiKeyRow, RateWindowRow

__all__ = ["ApiKey", "KeyStore", "NewKey", "hash_secret"]

SECRET_PREFIX = "atk_"
TENANT_HEADER = "x-atomic-tenant"


class ApiKey(BaseModel):
    """A key as listed: never its secret, only the secret's first characters."""

    id: str
    tenant: str
    name: str | None
    prefix: str
    admin: bool
    budget_usd: float | None
    spent_usd: float
    rate_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None


class NewKey(BaseModel):
    key: ApiKey
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _unauthorized(message: str) -> ServiceError:
    return ServiceError(
        401,
        "auth.invalid_key",
        message,
        hint="send `Authorization: Bearer <key>`; `atomic keys create --tenant T` makes one",
        headers={"WWW-Authenticate": "Bearer"},
    )


class _Window:
    """Requests per key per minute, counted in the ``rate_windows`` table by every worker.

    A sliding minute, estimated from two fixed ones: the current minute's count plus the
    previous minute's, weighted by how much of it the sliding minute still covers. A request is
    counted when it is admitted; one over the limit is refused uncounted.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def admit(self, key_id: str, per_minute: int) -> float | None:
        """None if the call may go now, else the seconds until it may."""
        now = time.time()
        window, into = divmod(now, 60.0)
        current, previous = int(window), int(window) - 1
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        async with self._engine.begin() as connection:
            rows = dict(
                (
                    await connection.execute(
                        select(RateWindowRow.window, RateWindowRow.requests).where(
                            RateWindowRow.key_id == key_id,
                            RateWindowRow.window.in_([current, previous]),
                        )
                    )
                ).all()
            )
            weight = 1.0 - into / 60.0
            estimate = rows.get(current, 0) + rows.get(previous, 0) * weight
            if estimate + 1 > per_minute:
                earlier = rows.get(previous, 0)
                if earlier and rows.get(current, 0) + 1 <= per_minute:
                    # The previous minute's share fades: wait until it has faded enough.
                    needed = (estimate + 1 - per_minute) / earlier * 60.0
                    return max(min(needed, 60.0 - into), 1.0)
                return 60.0 - into
            statement = insert(RateWindowRow).values(key_id=key_id, window=current, requests=1)
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["key_id", "window"],
                    set_={"requests": RateWindowRow.requests + 1},
                )
            )
            await connection.execute(
                delete(RateWindowRow).where(
                    RateWindowRow.key_id == key_id, RateWindowRow.window < previous
                )
            )
        return None


class KeyStore:
    """The ``api_keys`` table, and the checks each request passes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._window = _Window(engine)

    async def create(
        self,
        tenant: str,
        *,
        admin: bool = False,
        name: str | None = None,
        budget_usd: float | None = None,
        rate_per_minute: int | None = None,
    ) -> NewKey:
        """A new key; its secret is in the result and nowhere else."""
        if not tenant:
            raise ValueError("a key needs a tenant")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row = {
            "id": "key_" + secrets.token_hex(8),
            "tenant": tenant,
            "name": name,
            "prefix": secret[:10],
            "secret_sha256": hash_secret(secret),
            "admin": admin,
            "budget_usd": budget_usd,
            "spent_usd": 0.0,
            "rate_per_minute": rate_per_minute,
            "created_at": utcnow(),
            "revoked_at": None,
        }
        async with self._engine.begin() as connection:
            await connection.execute(insert(ApiKeyRow).values(**row))
        del row["secret_sha256"]
        return NewKey(key=ApiKey.model_validate(row), secret=secret)

    async def list(self) -> list[ApiKey]:
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(select(ApiKeyRow).order_by(ApiKeyRow.created_at))
            ).all()
        return [ApiKey.model_validate(r, from_attributes=True) for r in rows]

    async def active_count(self) -> int:
        statement = select(func.count()).where(ApiKeyRow.revoked_at.is_(None))
        async with self._engine.connect() as connection:
            return int((await connection.execute(statement.select_from(ApiKeyRow))).scalar_one())

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id; its requests are refused from now on."""
        async with self._engine.begin() as connection:
            await connection.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            row = (
                await connection.execute(select(ApiKeyRow).where(ApiKeyRow.id == key_id))
            ).one_or_none()
        if row is None:
            raise ServiceError(
                404,
                "key.not_found",
                f"no API key {key_id!r}",
                hint="`atomic keys list` shows the keys' ids",
                context={"key_id": key_id},
            )
        return ApiKey.model_validate(row, from_attributes=True)

    async def authenticate(self, authorization: str | None, acting_as: str | None) -> Principal:
        """The caller behind an ``Authorization`` header, its rate limit checked."""
        if not authorization:
            raise _unauthorized("this server needs an API key")
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise _unauthorized("the Authorization header is not `Bearer <key>`")
        statement = select(ApiKeyRow).where(ApiKeyRow.secret_sha256 == hash_secret(secret.strip()))
        async with self._engine.connect() as connection:
            row = (await connection.execute(statement)).one_or_none()
        key = None if row is None else ApiKey.model_validate(row, from_attributes=True)
        if key is None or key.revoked_at is not None:
            raise _unauthorized("the API key is unknown or revoked")
        tenant = key.tenant
        if acting_as and acting_as != key.tenant:
            if not key.admin:
                raise ServiceError(
                    403,
                    "auth.forbidden",
                    f"key {key.id} may not act as tenant {acting_as!r}",
                    hint="only admin keys may set X-Atomic-Tenant",
                    context={"key_id": key.id},
                )
            tenant = acting_as
        if key.rate_per_minute is not None:
            wait = await self._window.admit(key.id, key.rate_per_minute)
            if wait is not None:
                raise ServiceError(
                    429,
                    "key.rate_limited",
                    f"key {key.id} is over its {key.rate_per_minute} requests a minute",
                    hint="retry after the Retry-After delay",
                    context={"key_id": key.id, "rate_per_minute": key.rate_per_minute},
                    retry_after=wait,
                )
        left = None if key.budget_usd is None else key.budget_usd - key.spent_usd
        return Principal(tenant=tenant, admin=key.admin, key_id=key.id, budget_left_usd=left)

    async def charge(self, key_id: str, cost_usd: float) -> None:
        """Add a run's cost to its key's spend (an increment: concurrent charges all count)."""
        if cost_usd <= 0:
            return
        async with self._engine.begin() as connection:
            await connection.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id)
                .values(spent_usd=ApiKeyRow.spent_usd + cost_usd)
            )
