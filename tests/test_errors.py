"""The error tree: errors survive pickling (workflow journals store them)."""

import pickle

import pytest

from atomic.errors import (
    AtomicError,
    FeedbackError,
    InvalidRequestError,
    OutputValidationError,
    RateLimitError,
)


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("slow down", model_id="openai:x", retry_after=3.0, context={"try": 2}),
        InvalidRequestError("bad request", model_id="openai:x", hint="fix it"),
        OutputValidationError("invalid", raw_text="{", errors=["label: missing"], attempts=3),
        FeedbackError("bad correction", errors=["amount: not a number"]),
    ],
)
def test_errors_round_trip_through_pickle(error: AtomicError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.code, copy.is_retryable, copy.hint) == (error.code, error.is_retryable, error.hint)
    assert copy.context == error.context
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__
