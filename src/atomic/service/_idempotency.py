"""``Idempotency-Key`` on every POST: a repeat gets the first response, and no model is called.

An ASGI middleware, so every POST route (and a stream) is covered the same way. The first
request with a key claims it in the database (the ``idempotency_keys`` table) before it is
served, so concurrent repeats across processes see the claim: a repeat while the first is in
flight gets a 409 with ``Retry-After``; a repeat after gets the stored response, marked
``Idempotent-Replayed: true``; the same key with a different request is a 422. Keys are scoped
by the caller's API key. Answers a retry could change (401, 403, 429, 5xx) are not kept: the
claim is released so the retry runs.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atomic.service._problems import problem
from atomic.storage import utcnow
from atomic.storage._tables import IdempotencyRow

__all__ = ["IdempotencyMiddleware"]

_MAX_KEY = 255
STALE_CLAIM_S = 600.0
"""A claim never answered for this long was left by a process that died: the next repeat
takes it over and is served."""
_NOT_KEPT = {401, 403, 408, 429}
_SKIPPED_HEADERS = {b"content-length", b"date", b"server"}


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > _MAX_KEY:
            response = problem(
                400,
                "idempotency.invalid_key",
                f"the Idempotency-Key header must be 1 to {_MAX_KEY} characters",
                instance=scope["path"],
                hint="send a unique id per operation, e.g. a UUID",
            )
            await response(scope, receive, send)
            return
        body, receive = await _buffer(receive)
        engine: AsyncEngine = scope["app"].state.atomic.store.engine
        owner = hashlib.sha256(headers.get(b"authorization", b"-")).hexdigest()[:32]
        digest = hashlib.sha256(
            b"\0".join([scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        claimed = await _claim(engine, owner, key, scope, digest)
        if not claimed:
            await _answer_repeat(engine, owner, key, digest, scope, receive, send)
            return
        await _serve_first(self.app, engine, owner, key, scope, receive, send)


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _claim(engine: AsyncEngine, owner: str, key: str, scope: Scope, digest: str) -> bool:
    row = {
        "scope": owner,
        "key": key,
        "method": scope["method"],
        "path": scope["path"],
        "request_sha256": digest,
        "created_at": utcnow(),
    }
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(IdempotencyRow).values(**row))
    except IntegrityError:
        pass
    else:
        return True
    # Taken: by a live request, a stored answer, or a dead process's claim (taken over here).
    stale = utcnow() - timedelta(seconds=STALE_CLAIM_S)
    async with engine.begin() as connection:
        taken_over = await connection.execute(
            update(IdempotencyRow)
            .where(
                IdempotencyRow.scope == owner,
                IdempotencyRow.key == key,
                IdempotencyRow.status_code.is_(None),
                IdempotencyRow.created_at < stale,
                IdempotencyRow.request_sha256 == digest,
            )
            .values(created_at=row["created_at"])
        )
    return bool(cast(CursorResult[Any], taken_over).rowcount)


async def _answer_repeat(
    engine: AsyncEngine,
    owner: str,
    key: str,
    digest: str,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(IdempotencyRow).where(
                    IdempotencyRow.scope == owner, IdempotencyRow.key == key
                )
            )
        ).one_or_none()
    if row is None:  # released between our claim and this read: the caller may retry now
        response = problem(
            409,
            "idempotency.in_progress",
            f"a request with Idempotency-Key {key!r} was just being served",
            instance=scope["path"],
            hint="retry after the Retry-After delay",
            retryable=True,
            retry_after=1,
        )
    elif row.request_sha256 != digest:
        response = problem(
            422,
            "idempotency.key_reused",
            f"Idempotency-Key {key!r} was first used for a different request "
            f"({row.method} {row.path})",
            instance=scope["path"],
            hint="use a new key for a new operation",
            context={"idempotency_key": key, "first_path": row.path},
        )
    elif row.status_code is None:
        response = problem(
            409,
            "idempotency.in_progress",
            f"the first request with Idempotency-Key {key!r} is still being served",
            instance=scope["path"],
            hint="retry after the Retry-After delay to get its response",
            retryable=True,
            retry_after=1,
        )
    else:
        stored = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in row.headers or []]
        await send(
            {
                "type": "http.response.start",
                "status": row.status_code,
                "headers": [*stored, (b"idempotent-replayed", b"true")],
            }
        )
        await send({"type": "http.response.body", "body": (row.body or "").encode()})
        return
    await response(scope, receive, send)


async def _serve_first(
    app: ASGIApp,
    engine: AsyncEngine,
    owner: str,
    key: str,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    kept = False

    async def capture(message: Message) -> None:
        nonlocal status, kept
        if message["type"] == "http.response.start":
            status = message["status"]
            headers.extend(
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in message.get("headers", [])
                if k.lower() not in _SKIPPED_HEADERS
            )
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False) and status < 500 and status not in _NOT_KEPT:
                # Stored before the last byte goes out: a client that repeats the request as
                # soon as it has the answer finds it stored.
                values: dict[str, Any] = {
                    "status_code": status,
                    "headers": headers,
                    "body": b"".join(chunks).decode("utf-8", errors="replace"),
                    "completed_at": utcnow(),
                }
                await asyncio.shield(_update(engine, owner, key, values))
                kept = True
        await send(message)

    try:
        await app(scope, receive, capture)
    finally:
        if not kept:
            await asyncio.shield(_release(engine, owner, key))


async def _update(engine: AsyncEngine, owner: str, key: str, values: dict[str, Any]) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(IdempotencyRow)
            .where(IdempotencyRow.scope == owner, IdempotencyRow.key == key)
            .values(**values)
        )


async def _release(engine: AsyncEngine, owner: str, key: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            delete(IdempotencyRow).where(IdempotencyRow.scope == owner, IdempotencyRow.key == key)
        )
