"""``GET /metrics``: the exchange's Prometheus metrics, every worker's in multiprocess mode."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from atomic.service._auth import principal
from atomic.service._deps import Principal
from atomic.service._problems import ServiceError

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/metrics",
    summary="Prometheus metrics: runs, cost, latency, auctions, exclusions, budgets, breakers",
    tags=["observability"],
    response_class=Response,
)
async def metrics(request: Request, who: Annotated[Principal, Depends(principal)]) -> Response:
    # The samples carry every tenant's labels, so with keys on only an admin key may scrape.
    if not who.admin:
        raise ServiceError(
            403,
            "auth.forbidden",
            f"key {who.key_id} may not read /metrics: the metrics show every tenant",
            hint="scrape with an admin key (`atomic keys create --admin`)",
            context={"key_id": who.key_id},
        )
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
