"""The lineage graph's typed nodes: runs, the examples they used, the feedback that made
those examples, the classifier that served; and the influence of one example."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from atomic.errors import NotFoundError

__all__ = [
    "ClassifierUse",
    "ExampleNotFoundError",
    "ExampleUsed",
    "FeedbackNode",
    "Influence",
    "InfluencedRun",
    "Lineage",
    "RunNode",
]


class ExampleNotFoundError(NotFoundError):
    """No remembered example has this id in this tenant, and no run ever used one that had."""

    code = "example.not_found"


class FeedbackNode(BaseModel):
    """Feedback on a run of the graph."""

    id: str
    kind: str
    source: str
    output: Any = None
    reward: float
    superseded_by: str | None = None
    created_at: datetime


class ExampleUsed(BaseModel):
    """A remembered example one run put in its prompt (an edge of the graph)."""

    example_id: str
    position: int = Field(description="Its place among the demonstrations, 0 first.")
    similarity: float
    source: str = Field(description="Where the label came from when it was used.")
    source_run_id: str | None = Field(description="The run the example was learned from.")
    feedback_id: str | None = Field(
        default=None, description="The feedback on that run that made the example, if known."
    )
    remembered: bool = Field(
        default=False,
        description="Still in memory with the same origin (False: replaced or forgotten since).",
    )


class ClassifierUse(BaseModel):
    """The task's learned classifier, when ``learned:<task>`` won the run's auction."""

    model_id: str
    version: int | None = Field(description="The version that bid, from the auction record.")
    current_version: int | None = None
    trained_on: int | None = Field(
        default=None, description="Examples the current version was trained on."
    )


class RunNode(BaseModel):
    """One run of the graph, with its auction's choice and the examples it used."""

    id: str
    depth: int = Field(description="Hops from the run asked about (0: that run).")
    task_name: str
    task_version: str = Field(description="The task (prompt) version the run used.")
    status: str
    model_id: str | None = Field(description="The model that served the run.")
    output: Any = None
    cost_usd: float
    created_at: datetime
    winner: str | None = None
    propensity: float | None = None
    margin: float | None = None
    price: dict[str, Any] | None = Field(
        default=None, description="The price the serving attempt was charged at."
    )
    strategy: str | None = None
    card: dict[str, Any] | None = Field(
        default=None, description="The serving model's card as registered now (if it is)."
    )
    classifier: ClassifierUse | None = None
    examples: list[ExampleUsed] = Field(default_factory=list)
    feedback: list[FeedbackNode] = Field(default_factory=list)


class Lineage(BaseModel):
    """The provenance of one run: the run first, then the runs whose examples it used, and
    theirs, up to ``max_depth`` hops (``truncated`` if the history went further)."""

    run_id: str
    tenant: str
    max_depth: int
    truncated: bool = False
    runs: list[RunNode]

    def run(self, run_id: str) -> RunNode | None:
        return next((r for r in self.runs if r.id == run_id), None)

    @property
    def root(self) -> RunNode:
        return self.runs[0]


class InfluencedRun(BaseModel):
    """A run an example influenced: directly (depth 1, it used the example) or through
    examples learned from runs it influenced."""

    run_id: str
    depth: int
    via_example: str = Field(description="The example this run used that links it in.")
    similarity: float
    task_name: str
    model_id: str | None
    status: str
    created_at: datetime


class Influence(BaseModel):
    """Every run one example influenced (its blast radius), nearest first."""

    example_id: str
    tenant: str
    max_depth: int
    truncated: bool = False
    source_run_ids: list[str] = Field(
        default_factory=list, description="The runs the example was learned from."
    )
    remembered: bool = Field(description="Whether the example is in memory now.")
    runs: list[InfluencedRun]

    @property
    def direct(self) -> int:
        """How many runs used the example itself."""
        return sum(1 for r in self.runs if r.depth == 1)

    @property
    def by_depth(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for run in self.runs:
            counts[run.depth] = counts.get(run.depth, 0) + 1
        return counts
