"""Lineage and influence through the library, on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from tests.lineage._history import make_history, open_atomic


async def test_a_run_traces_back_to_the_corrections_that_taught_it(
    tmp_path: Path, store_url: str
) -> None:
    async with await open_atomic(tmp_path, store_url) as atomic:
        h = await make_history(atomic)
        lineage = await atomic.lineage(h.third)

    assert [(r.id, r.depth) for r in lineage.runs] == [(h.third, 0), (h.second, 1), (h.first, 2)]
    third, second, first = lineage.runs
    assert third.model_id == third.winner == "fn:guess"
    assert third.task_version == "1"
    assert third.propensity is not None
    assert third.card is not None
    assert third.card["id"] == "fn:guess"
    [used] = third.examples
    assert (used.example_id, used.source_run_id, used.feedback_id) == (
        h.example_b,
        h.second,
        h.second_feedback,
    )
    assert used.remembered
    assert [e.example_id for e in second.examples] == [h.example_a]
    assert second.examples[0].feedback_id == h.first_feedback
    assert [f.id for f in second.feedback] == [h.second_feedback]
    assert [(f.id, f.kind) for f in first.feedback] == [(h.first_feedback, "corrected")]
    assert first.examples == []
    assert not lineage.truncated
