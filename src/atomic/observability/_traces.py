"""OpenTelemetry traces of the exchange, following the GenAI semantic conventions.

Each run is a span (``atomic.run {task}``) with ``atomic.*`` attributes; under it one span for
the auction (bids, winner, margin, propensity, pacing, exclusions by reason) and one
``chat {model}`` span per model call with the ``gen_ai.*`` attributes. Spans are built from the
call path's events, after the fact, with the times the events report: the call path itself
knows nothing of tracing. Off (no subscriber, no cost) unless an OTLP endpoint is set in the
standard ``OTEL_*`` variables. Prompt and completion text are recorded only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is true, and never for a confidential
task.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from atomic.events import (
    AttemptFinished,
    AuctionCleared,
    Event,
    RunRefused,
    RunSettled,
    StepFinished,
    StepStarted,
)
from atomic.models import parse_model_id

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from atomic.exchange import AuctionRecord
    from atomic.storage import RunRecord

__all__ = ["CONTENT_VARIABLE", "Traces", "configure_tracing"]

CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_TRUE = {"1", "true", "yes", "on"}


def configure_tracing() -> TracerProvider | None:
    """A tracer provider exporting over OTLP/HTTP, if the ``OTEL_*`` variables name an
    endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) and
    ``OTEL_SDK_DISABLED`` is not true; else ``None``. An application that configured its own
    provider keeps it: Atomic's spans go there."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() in _TRUE:
        return None
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": "atomic"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _ns_ago(ms: float) -> int:
    return time.time_ns() - int(ms * 1_000_000)


class Traces:
    """Turns the call path's events into spans; subscribe an instance to an event bus."""

    def __init__(
        self,
        provider: trace.TracerProvider | None = None,
        *,
        capture_content: bool | None = None,
    ) -> None:
        self.tracer = (provider or trace.get_tracer_provider()).get_tracer("atomic")
        if capture_content is None:
            capture_content = os.environ.get(CONTENT_VARIABLE, "").lower() in _TRUE
        self.capture_content = capture_content
        self._runs: dict[str, Span] = {}
        self._steps: dict[tuple[str, int], tuple[Span, object]] = {}

    def trace_id(self, run_id: str) -> str | None:
        """The trace id of a run still in flight (for logs that name it)."""
        span = self._runs.get(run_id)
        if span is None:
            return None
        return format(span.get_span_context().trace_id, "032x")

    def __call__(self, event: Event) -> None:
        if isinstance(event, (AuctionCleared, RunRefused)):
            span = self._start_run(event.run, event.record, event.auction_ms)
            if isinstance(event, RunRefused):
                self._end_run(event.run, span)
            else:
                self._runs[event.run.id] = span
        elif isinstance(event, AttemptFinished):
            self._attempt(event)
        elif isinstance(event, RunSettled):
            running = self._runs.pop(event.run.id, None)
            if running is not None:
                running.set_attribute("atomic.cascade", len(event.record.cascade))
                self._end_run(event.run, running)
        elif isinstance(event, StepStarted):
            self._start_step(event)
        elif isinstance(event, StepFinished):
            self._end_step(event)

    def _start_step(self, event: StepStarted) -> None:
        # The step's span is made current until it finishes, so the run it makes is its child
        # (and the step a child of the workflow's or the request's span, if any).
        span = self.tracer.start_span(
            f"atomic.step {event.task_name}",
            attributes={
                "atomic.workflow": event.workflow,
                "atomic.workflow_id": event.workflow_id,
                "atomic.step": event.step,
                "atomic.task": event.task_name,
                "atomic.tenant": event.tenant,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        self._steps[(event.workflow_id, event.step)] = (span, token)

    def _end_step(self, event: StepFinished) -> None:
        started = self._steps.pop((event.workflow_id, event.step), None)
        if started is None:
            return
        span, token = started
        otel_context.detach(token)  # type: ignore[arg-type]
        if event.run_id:
            span.set_attribute("atomic.run_id", event.run_id)
        span.set_attribute("atomic.cost_usd", event.cost_usd)
        if event.error_code:
            span.set_attribute("error.type", event.error_code)
            span.set_status(Status(StatusCode.ERROR, event.error_code))
        span.end()

    def _start_run(self, run: RunRecord, record: AuctionRecord, auction_ms: float) -> Span:
        span = self.tracer.start_span(
            f"atomic.run {run.task_name}",
            kind=SpanKind.INTERNAL,
            start_time=_ns_ago(auction_ms),
            attributes={
                "atomic.task": run.task_name,
                "atomic.task_version": run.task_version,
                "atomic.run_id": run.id,
                "atomic.tenant": run.tenant,
            },
        )
        context = trace.set_span_in_context(span)
        auction = self.tracer.start_span(
            "atomic.auction",
            context=context,
            start_time=_ns_ago(auction_ms),
            attributes=_auction_attributes(record),
        )
        auction.end()
        return span

    def _end_run(self, run: RunRecord, span: Span) -> None:
        span.set_attribute("atomic.status", run.status.value)
        span.set_attribute("atomic.cost_usd", run.cost_usd)
        if run.model_id:
            span.set_attribute("atomic.model", run.model_id)
        if run.error_code:
            span.set_attribute("error.type", run.error_code)
            span.set_status(Status(StatusCode.ERROR, run.error_code))
        span.end()

    def _attempt(self, event: AttemptFinished) -> None:
        parent = self._runs.get(event.run_id)
        attempt = event.attempt
        provider, name = parse_model_id(attempt.model_id)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": name,
            "atomic.run_id": event.run_id,
            "atomic.attempt": attempt.index,
            "atomic.strategy": attempt.strategy.value,
        }
        response = attempt.response
        if response is not None:
            attributes["gen_ai.response.model"] = parse_model_id(response.model_id)[1]
            attributes["gen_ai.usage.input_tokens"] = response.usage.input_tokens
            attributes["gen_ai.usage.output_tokens"] = response.usage.output_tokens
            if response.finish_reason:
                attributes["gen_ai.response.finish_reasons"] = [response.finish_reason]
        if self.capture_content and event.sensitivity != "confidential":
            messages = [m.model_dump() for m in attempt.messages]
            attributes["gen_ai.input.messages"] = json.dumps(messages, ensure_ascii=False)
            if response is not None:
                output = [{"role": "assistant", "content": response.text}]
                attributes["gen_ai.output.messages"] = json.dumps(output, ensure_ascii=False)
        span = self.tracer.start_span(
            f"chat {name}",
            context=trace.set_span_in_context(parent) if parent else None,
            kind=SpanKind.CLIENT,
            start_time=_ns_ago(attempt.latency_ms),
            attributes=attributes,
        )
        if attempt.error is not None:
            span.set_attribute("error.type", attempt.error.code)
            span.set_status(Status(StatusCode.ERROR, attempt.error.message[:200]))
        elif attempt.errors:
            span.set_attribute("atomic.validation_errors", attempt.errors[:10])
        span.end()


def _auction_attributes(record: AuctionRecord) -> dict[str, Any]:
    bids = [
        {
            "model": b.model_id,
            "p_correct": round(b.p_success, 4),
            "cost_usd": b.cost_usd,
            "latency_p50_ms": round(b.latency_p50_ms, 1),
            "score": round(b.score, 6),
        }
        for b in record.bids
    ]
    attributes: dict[str, Any] = {
        "atomic.auction.bids": json.dumps(bids),
        "atomic.auction.bidders": len(record.bids),
        "atomic.auction.propensity": record.propensity,
        "atomic.auction.pacing_multiplier": record.pacing_multiplier,
        "atomic.auction.objective": record.objective.get("kind", ""),
    }
    if record.winner:
        attributes["atomic.auction.winner"] = record.winner
    if record.margin is not None:
        attributes["atomic.auction.margin"] = record.margin
    for reason, count in Counter(e.code for e in record.exclusions).items():
        attributes[f"atomic.auction.exclusions.{reason}"] = count
    return attributes
