"""``/healthz`` (the process answers) and ``/readyz`` (the store, its migrations, the models)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from atomic._client import Atomic
from atomic.errors import AtomicError
from atomic.service._deps import get_atomic
from atomic.service._protocol import Check, Health
from atomic.storage._migrate import current_revision, head_revision

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready; `checks` says why."}},
    summary="Ready to serve: the store answers, its migrations are current, models are loaded",
)
async def readyz(atomic: Annotated[Atomic, Depends(get_atomic)]) -> JSONResponse:
    checks = {
        "store": await _store_check(atomic),
        "migrations": await _migrations_check(atomic),
        "models": _models_check(atomic),
    }
    ok = all(c.ok for c in checks.values())
    health = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(health.model_dump(mode="json"), status_code=200 if ok else 503)


async def _store_check(atomic: Atomic) -> Check:
    try:
        async with atomic.store.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the detail says which
        return Check(ok=False, detail=f"{atomic.store.url}: {type(exc).__name__}: {exc}")
    return Check(ok=True, detail=atomic.store.url)


async def _migrations_check(atomic: Atomic) -> Check:
    try:
        current = await current_revision(atomic.store.engine)
    except (AtomicError, Exception) as exc:
        return Check(ok=False, detail=f"cannot read the revision: {exc}")
    head = head_revision()
    if current != head:
        return Check(ok=False, detail=f"at {current}, not {head}: run `atomic` once to migrate")
    return Check(ok=True, detail=f"at {head}")


def _models_check(atomic: Atomic) -> Check:
    count = len(atomic.registry)
    if count == 0:
        return Check(ok=False, detail="no model registered")
    return Check(ok=True, detail=f"{count} registered")
