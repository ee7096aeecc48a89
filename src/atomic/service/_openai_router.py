"""``POST /v1/chat/completions``: OpenAI's API in front of the exchange (``GET /v1/models`` is
the REST API's, in OpenAI's list format)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.responses import Response

from atomic._client import Atomic
from atomic.service._auth import principal
from atomic.service._deps import Principal, get_atomic
from atomic.service._openai_protocol import ChatCompletion, ChatCompletionRequest
from atomic.service._openai_serving import ChatServing, sse_chunks
from atomic.service._problems import problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["openai"])

RUN_ID_HEADER = "x-atomic-run-id"


def _responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {"text/event-stream": {}}, "description": "A completion or its stream."},
        **problem_responses(400, 401, 403, 404, 409, 422, 429, 502, 504),
    }


def serving(request: Request, atomic: Annotated[Atomic, Depends(get_atomic)]) -> ChatServing:
    return ChatServing(atomic, request.app.state.keys)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses=_responses(),
    summary="OpenAI-compatible chat completions, through the exchange",
)
async def chat_completions(
    body: ChatCompletionRequest,
    who: Annotated[Principal, Depends(principal)],
    work: Annotated[ChatServing, Depends(serving)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Response:
    completion = await work.complete(who, body)
    headers = {RUN_ID_HEADER: completion.id}
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            sse_chunks(completion, include_usage),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache"},
        )
    return JSONResponse(completion.model_dump(mode="json"), headers=headers)
