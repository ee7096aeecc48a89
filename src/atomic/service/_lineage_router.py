"""``GET /v1/runs/{run_id}/lineage``: a run's provenance as a W3C PROV-JSON document, and
``GET /v1/examples/{example_id}/influence``: every run a remembered example influenced.

Both read the caller's tenant only: another tenant's run or example is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from atomic._client import Atomic
from atomic.lineage import Influence, to_prov
from atomic.service._auth import principal
from atomic.service._deps import Principal, get_atomic
from atomic.service._problems import problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["lineage"])

_NOT_FOUND = problem_responses(401, 404, 422)

Caller = Annotated[Principal, Depends(principal)]
Client = Annotated[Atomic, Depends(get_atomic)]


@router.get(
    "/runs/{run_id}/lineage",
    responses=_NOT_FOUND,
    summary="A run's provenance as W3C PROV-JSON",
    description="The run, its auction record, model and task version, the remembered "
    "examples in its prompt, the runs and feedback that made them, and theirs, `depth` hops "
    "back: entities, activities and agents related by wasGeneratedBy, used, "
    "wasAssociatedWith, wasDerivedFrom and wasAttributedTo.",
)
async def run_lineage(
    run_id: Annotated[str, Path(max_length=200, description="The run's id.")],
    who: Caller,
    atomic: Client,
    depth: Annotated[int, Query(ge=0, le=20, description="Hops of examples to follow.")] = 3,
) -> dict[str, Any]:
    return to_prov(await atomic.lineage(run_id, tenant=who.tenant, depth=depth))


@router.get(
    "/examples/{example_id}/influence",
    response_model=Influence,
    responses=_NOT_FOUND,
    summary="Every run a remembered example influenced (its blast radius)",
)
async def example_influence(
    example_id: Annotated[str, Path(max_length=200, description="The example's id.")],
    who: Caller,
    atomic: Client,
    depth: Annotated[int, Query(ge=1, le=20, description="Hops of examples to follow.")] = 5,
) -> Influence:
    return await atomic.influence(example_id, tenant=who.tenant, depth=depth)
