"""``GET /v1/audit``: the egress ledger, and ``GET /v1/audit/verify``: its chain checked.

Admin keys only, as for ``/metrics``: the ledger holds every tenant's entries.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from atomic._client import Atomic
from atomic.service._auth import principal
from atomic.service._deps import Principal, get_atomic
from atomic.service._problems import ServiceError

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_MAX_PAGE = 1000


def _admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.admin:
        raise ServiceError(
            403,
            "auth.forbidden",
            f"key {who.key_id} may not read the egress ledger: it holds every tenant's entries",
            hint="read it with an admin key (`atomic keys create --admin`)",
            context={"key_id": who.key_id},
        )
    return who


@router.get("", summary="Egress-ledger entries in chain order, a page at a time")
async def list_audit(
    atomic: Annotated[Atomic, Depends(get_atomic)],
    _: Annotated[Principal, Depends(_admin)],
    tenant: Annotated[str | None, Query(description="Only this tenant's entries.")] = None,
    run_id: Annotated[str | None, Query(description="Only this run's entries.")] = None,
    after: Annotated[int, Query(ge=0, description="Cursor: entries after this seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 100,
) -> dict[str, Any]:
    entries = await atomic.egress.entries(tenant=tenant, run_id=run_id, after=after, limit=limit)
    return {
        "entries": [e.model_dump(mode="json") for e in entries],
        "next_after": entries[-1].seq if len(entries) == limit else None,
    }


@router.get("/verify", summary="Check the egress ledger's hash chain")
async def verify_audit(
    atomic: Annotated[Atomic, Depends(get_atomic)],
    _: Annotated[Principal, Depends(_admin)],
) -> dict[str, Any]:
    report = await atomic.egress.verify()
    return {
        "ok": report.ok,
        "entries": report.entries,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in report.problems],
    }
