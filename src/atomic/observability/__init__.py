"""Watching the exchange: traces (OpenTelemetry), metrics (Prometheus) and structured logs,
each a subscriber of the call path's events (``atomic.events``)."""

from atomic.observability._logs import RunLog
from atomic.observability._metrics import Metrics
from atomic.observability._traces import CONTENT_VARIABLE, Traces, configure_tracing

__all__ = ["CONTENT_VARIABLE", "Metrics", "RunLog", "Traces", "configure_tracing"]
