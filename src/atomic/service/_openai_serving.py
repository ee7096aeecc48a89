"""The work behind ``/v1/chat/completions``: which task, input and model a request means, the
call through the exchange, and the completion (or its stream of chunks).

A stream is sent once the call has a validated answer: a model that fails before the first
token (an error, an invalid output) is replaced by the next bid without the client seeing it,
and no chunk of an answer that later fails validation ever goes out.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from atomic._client import Atomic
from atomic.exchange import Result
from atomic.service._budget import charged
from atomic.service._deps import Principal
from atomic.service._keys import KeyStore
from atomic.service._openai_protocol import (
    AssistantMessage,
    AtomicRunInfo,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    CompletionUsage,
    Delta,
)
from atomic.service._schema_type import JsonObject, type_from_schema
from atomic.tasks import Task

__all__ = ["CHAT_TASK", "ChatServing", "sse_chunks", "text_input"]

AUTO = "atomic:auto"
TASK_PREFIX = "atomic:task/"


class ChatTurn(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Conversation(BaseModel):
    """The chat task's input: the conversation so far."""

    messages: list[ChatTurn] = Field(min_length=1)


# No maxLength: grammars built from it (llama.cpp's) grow with it; max_output_tokens bounds it.
ChatReply = Annotated[str, StringConstraints(min_length=1)]

_CHAT_INSTRUCTIONS = (
    "You are a helpful assistant. The input is a conversation as JSON: write the assistant's "
    "next reply to its last user message, following its system messages."
)

CHAT_TASK: Task[Conversation, str] = Task(
    "chat",
    input=Conversation,
    output=ChatReply,
    instructions=_CHAT_INSTRUCTIONS,
    max_output_tokens=512,
    description="The built-in task behind `atomic:auto` and model ids on /v1/chat/completions; "
    "its bidders are the models not restricted to other tasks.",
)


@dataclass(frozen=True)
class Call:
    """What a chat request means for the exchange."""

    task: Task[Any, Any]
    task_input: Any
    model: str | None
    render: Callable[[Any], str]


def _conversation(messages: list[ChatMessage]) -> Conversation:
    roles = {"developer": "system", "tool": "user"}
    return Conversation(
        messages=[
            ChatTurn.model_validate({"role": roles.get(m.role, m.role), "content": m.text()})
            for m in messages
        ]
    )


def _last_user_text(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.text()
    return messages[-1].text()


def text_input(task: Task[Any, Any], text: str) -> Any:
    """The last user message as the task's input: a JSON object, or text for a one-field input."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    fields = list(task.input.model_fields)
    if len(fields) == 1:
        return {fields[0]: text}
    return text  # parse_input says what is missing


class ChatServing:
    """Chat completions on one ``Atomic``, for one caller at a time."""

    def __init__(self, atomic: Atomic, keys: KeyStore | None = None) -> None:
        self.atomic = atomic
        self.keys = keys

    def route(self, request: ChatCompletionRequest) -> Call:
        if request.model.startswith(TASK_PREFIX):
            task = self.atomic.tasks.get(request.model[len(TASK_PREFIX) :])
            return Call(
                task=task,
                task_input=text_input(task, _last_user_text(request.messages)),
                model=None,
                render=lambda out: json.dumps(task.schema.dump(out), ensure_ascii=False),
            )
        pinned = None if request.model == AUTO else self.atomic.registry.get(request.model).id
        task = self._chat_task(request)
        render: Callable[[Any], str] = (
            str
            if task is CHAT_TASK or task.name == CHAT_TASK.name
            else lambda out: json.dumps(task.schema.dump(out), ensure_ascii=False)
        )
        return Call(
            task=task, task_input=_conversation(request.messages), model=pinned, render=render
        )

    def _chat_task(self, request: ChatCompletionRequest) -> Task[Any, Any]:
        task: Task[Any, Any] = CHAT_TASK
        form = request.response_format
        if form is not None and form.type != "text":
            if form.type == "json_object" or form.json_schema is None:
                output: Any = JsonObject
            else:
                output = type_from_schema(form.json_schema.schema_, form.json_schema.name)
            task = Task(
                "chat-json",
                input=Conversation,
                output=output,
                instructions=_CHAT_INSTRUCTIONS + " Reply with JSON only.",
                max_output_tokens=CHAT_TASK.max_output_tokens,
            )
        limit = request.max_completion_tokens or request.max_tokens
        if limit is not None:
            task = dataclasses.replace(task, max_output_tokens=limit)
        return task

    async def complete(self, who: Principal, request: ChatCompletionRequest) -> ChatCompletion:
        call = self.route(request)
        async with charged(self.atomic, self.keys, who, None) as cap:
            result: Result[Any] = await self.atomic.run(
                call.task, call.task_input, model=call.model, tenant=who.tenant
            )
            cap.cost_usd = result.cost_usd
        usage = result.usage
        return ChatCompletion(
            id=result.run_id,
            created=int(time.time()),
            model=result.model_id,
            choices=[Choice(message=AssistantMessage(content=call.render(result.output)))],
            usage=CompletionUsage(
                prompt_tokens=usage.input_tokens,
                completion_tokens=usage.output_tokens,
                total_tokens=usage.input_tokens + usage.output_tokens,
            ),
            atomic=AtomicRunInfo(
                run_id=result.run_id,
                task=call.task.name,
                model_id=result.model_id,
                attempts=result.attempts,
                cost_usd=result.cost_usd,
                latency_ms=result.latency_ms,
            ),
        )


def _pieces(text: str, size: int = 24) -> Iterator[str]:
    """The answer in small pieces, cut after spaces where possible."""
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.rfind(" ", start, end)
        if end < len(text) and space > start:
            end = space + 1
        yield text[start:end]
        start = end


async def sse_chunks(completion: ChatCompletion, include_usage: bool) -> AsyncIterator[str]:
    """The completion as OpenAI's server-sent events, ending with ``data: [DONE]``."""

    def event(chunk: ChatCompletionChunk) -> str:
        return f"data: {chunk.model_dump_json(exclude_none=True)}\n\n"

    def chunk(delta: Delta, finish: Literal["stop"] | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=completion.id,
            created=completion.created,
            model=completion.model,
            choices=[ChunkChoice(delta=delta, finish_reason=finish)],
        )

    yield event(chunk(Delta(role="assistant", content="")))
    for piece in _pieces(completion.choices[0].message.content):
        yield event(chunk(Delta(content=piece)))
    yield event(chunk(Delta(), finish="stop"))
    if include_usage:
        yield event(
            ChatCompletionChunk(
                id=completion.id,
                created=completion.created,
                model=completion.model,
                choices=[],
                usage=completion.usage,
            )
        )
    yield "data: [DONE]\n\n"
