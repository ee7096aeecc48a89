"""Trace context crosses workflow steps: a Temporal workflow's steps join the caller's trace,
each step a span of its own (from the step events) with its run under it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pydantic import BaseModel
from temporalio.common import RetryPolicy

from atomic import Atomic, AtomicSettings, Task
from atomic.models import FunctionModel, ModelRequest
from atomic.observability import Traces
from atomic.workflows import TemporalRunner, TemporalStepOptions, connect_temporal, step, workflow
from tests.fixtures.phoenix import Phoenix


class Note(BaseModel):
    text: str


class Pair(BaseModel):
    run_ids: list[str]


shout = Task("traced-shout", input=Note, output=Note, instructions="Shout the text.")


@workflow(name="traced-two-steps")
async def two_steps(note: Note) -> Pair:
    first = await step(shout, note)
    second = await step(shout, Note(text=first.output.text + " again"))
    return Pair(run_ids=[first.run_id, second.run_id])


def _upper(request: ModelRequest) -> dict[str, Any]:
    return {"text": str((request.task_input or {})["text"]).upper()}


async def test_a_temporal_workflows_steps_join_the_callers_trace(
    temporal_address: str, phoenix: Phoenix, tmp_path: Path
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=phoenix.traces_endpoint))
    )
    client = await connect_temporal(temporal_address, tracer_provider=provider)
    settings = AtomicSettings(home=tmp_path, local_models=[], learned_models=False)
    model = FunctionModel(_upper, id="fn:upper")
    options = TemporalStepOptions(
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=RetryPolicy(maximum_attempts=2),
    )
    async with await Atomic.open(settings, models=[model], tasks=[shout]) as atomic:
        atomic.exchange.events.subscribe(Traces(provider))
        with provider.get_tracer("test").start_as_current_span("caller") as caller:
            async with TemporalRunner(
                atomic,
                client,
                task_queue=f"traced-{uuid.uuid4().hex[:8]}",
                workflows=[two_steps],
                step_options=options,
            ) as runner:
                result = await runner.run(two_steps, {"text": "hi"})
    provider.force_flush()
    trace_id = format(caller.get_span_context().trace_id, "032x")

    def runs_in_trace(spans: list[dict[str, Any]]) -> set[str]:
        return {
            s["attributes"]["atomic.run_id"]
            for s in spans
            if s["context"]["trace_id"] == trace_id and s["name"] == "atomic.run traced-shout"
        }

    spans = phoenix.wait_for(lambda found: len(runs_in_trace(found)) == 2)
    assert runs_in_trace(spans) == set(result.run_ids)
    names = {s["name"] for s in spans if s["context"]["trace_id"] == trace_id}
    assert any(name.startswith("RunActivity") for name in names), names
    assert "chat upper" in names
    in_trace = [s for s in spans if s["context"]["trace_id"] == trace_id]
    steps = {
        s["attributes"]["atomic.step"]: s
        for s in in_trace
        if s["name"] == "atomic.step traced-shout"
    }
    assert sorted(steps) == [1, 2]
    assert {s["attributes"]["atomic.workflow"] for s in steps.values()} == {"traced-two-steps"}
    assert [steps[i]["attributes"]["atomic.run_id"] for i in (1, 2)] == result.run_ids
    runs = {
        s["attributes"]["atomic.run_id"]: s for s in in_trace if s["name"].startswith("atomic.run")
    }
    for i, run_id in enumerate(result.run_ids, start=1):
        assert runs[run_id]["parent_id"] == steps[i]["context"]["span_id"]
