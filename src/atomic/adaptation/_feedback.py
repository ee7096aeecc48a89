"""Feedback on a run: its kinds and sources, the reward it means, and its idempotency key."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic_core import to_jsonable_python

__all__ = [
    "FeedbackKind",
    "FeedbackSource",
    "feedback_id",
    "reward_of",
    "trust_of",
]


class FeedbackKind(StrEnum):
    CORRECT = "correct"
    """The run's output was right."""
    INCORRECT = "incorrect"
    """The run's output was wrong; the right one is not given."""
    CORRECTED = "corrected"
    """The right output, given in full (validated against the task's output type)."""
    SCORE = "score"
    """A grade in [0, 1]."""


class FeedbackSource(StrEnum):
    GROUND_TRUTH = "ground_truth"
    HUMAN = "human"
    JUDGE = "judge"
    CHECK = "check"


_TRUST = {
    FeedbackSource.GROUND_TRUTH: 4,
    FeedbackSource.HUMAN: 3,
    FeedbackSource.JUDGE: 2,
    FeedbackSource.CHECK: 1,
}

REMEMBER_SCORE = 0.8
"""A score at least this high confirms the output as an example worth remembering."""


def trust_of(source: str) -> int:
    """How much a label from ``source`` is trusted when two disagree (higher wins)."""
    try:
        return _TRUST[FeedbackSource(source)]
    except ValueError:
        return 0


def reward_of(kind: FeedbackKind, *, same_output: bool, score: float | None) -> float:
    """The reward the learner counts for the run."""
    if kind is FeedbackKind.CORRECT:
        return 1.0
    if kind is FeedbackKind.INCORRECT:
        return 0.0
    if kind is FeedbackKind.CORRECTED:
        return 1.0 if same_output else 0.0
    assert score is not None
    return score


def feedback_id(
    run_id: str, kind: FeedbackKind, output: Any, score: float | None, source: str
) -> str:
    """The id of feedback given without one: the same verdict on the same run counts once."""
    body = json.dumps(
        [run_id, kind.value, to_jsonable_python(output), score, source],
        sort_keys=True,
        separators=(",", ":"),
    )
    return "fb_" + hashlib.sha256(body.encode()).hexdigest()[:24]
