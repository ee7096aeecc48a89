"""Lineage and influence through the library, on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.engine import Connection

from atomic.errors import RunNotFoundError
from atomic.lineage import ExampleNotFoundError, to_prov
from atomic.lineage._prov import ATOMIC_NAMESPACE
from atomic.storage._migrate import alembic_config
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


async def test_an_example_lists_every_run_it_influenced_directly_and_through_others(
    tmp_path: Path, store_url: str
) -> None:
    async with await open_atomic(tmp_path, store_url) as atomic:
        h = await make_history(atomic)
        a = await atomic.influence(h.example_a)
        b = await atomic.influence(h.example_b)
        shallow = await atomic.influence(h.example_a, depth=1)

    assert [(r.run_id, r.depth, r.via_example) for r in a.runs] == [
        (h.second, 1, h.example_a),
        (h.third, 2, h.example_b),
    ]
    assert (a.direct, a.by_depth, a.truncated) == (1, {1: 1, 2: 1}, False)
    assert a.source_run_ids == [h.first]
    assert a.remembered
    assert [(r.run_id, r.depth) for r in b.runs] == [(h.third, 1)]
    assert b.source_run_ids == [h.second]
    assert [r.run_id for r in shallow.runs] == [h.second]
    assert shallow.truncated


async def test_depth_bounds_the_walk_back_and_says_so(tmp_path: Path, store_url: str) -> None:
    async with await open_atomic(tmp_path, store_url) as atomic:
        h = await make_history(atomic)
        one_hop = await atomic.lineage(h.third, depth=1)
        alone = await atomic.lineage(h.unrelated)

    assert [r.id for r in one_hop.runs] == [h.third, h.second]
    assert one_hop.truncated
    assert [r.id for r in alone.runs] == [h.unrelated]
    assert alone.root.examples == []
    assert not alone.truncated


async def test_tenants_never_see_each_others_lineage(tmp_path: Path, store_url: str) -> None:
    async with await open_atomic(tmp_path / "alice", store_url, tenant="alice") as alice:
        mine = await make_history(alice)
    async with await open_atomic(tmp_path / "bob", store_url, tenant="bob") as bob:
        theirs = await make_history(bob)
        with pytest.raises(RunNotFoundError):
            await bob.lineage(mine.third)
        with pytest.raises(ExampleNotFoundError) as caught:
            await bob.influence(mine.example_a)
        assert caught.value.code == "example.not_found"
        bobs = await bob.influence(theirs.example_a)
        with pytest.raises(RunNotFoundError):
            await bob.lineage(mine.third, tenant="carol")

    # The same texts in two tenants are two examples, each with only its own runs.
    assert theirs.example_a != mine.example_a
    assert [r.run_id for r in bobs.runs] == [theirs.second, theirs.third]
    async with await open_atomic(tmp_path / "alice", store_url, tenant="alice") as alice:
        lineage = await alice.lineage(mine.third)
        influence = await alice.influence(mine.example_a)
    assert {r.id for r in lineage.runs} == {mine.first, mine.second, mine.third}
    assert [r.run_id for r in influence.runs] == [mine.second, mine.third]


async def test_prov_json_relates_the_run_its_model_examples_and_feedback(
    tmp_path: Path, store_url: str
) -> None:
    async with await open_atomic(tmp_path, store_url) as atomic:
        h = await make_history(atomic)
        doc = to_prov(await atomic.lineage(h.third))

    json.dumps(doc)  # a plain document
    run, output = f"atomic:run/{h.third}", f"atomic:output/{h.third}"
    example = f"atomic:example/{h.example_b}"
    feedback = f"atomic:feedback/{h.second_feedback}"
    assert doc["prefix"] == {"atomic": ATOMIC_NAMESPACE}
    assert doc["activity"][run]["prov:type"] == {"$": "atomic:Run", "type": "xsd:QName"}
    assert doc["agent"]["atomic:model/fn:guess"]["prov:type"]["$"] == "prov:SoftwareAgent"
    assert doc["agent"]["atomic:source/human"]["prov:type"]["$"] == "prov:Person"
    assert doc["entity"][example]["prov:type"]["$"] == "atomic:Example"
    assert doc["entity"][feedback]["atomic:kind"] == "corrected"
    assert doc["entity"][f"atomic:auction/{h.third}"]["atomic:winner"] == "fn:guess"

    def related(kind: str) -> list[dict[str, object]]:
        return list(doc[kind].values())

    assert {"prov:entity": output, "prov:activity": run} in related("wasGeneratedBy")
    used = [u for u in related("used") if u["prov:activity"] == run]
    assert {u["prov:entity"] for u in used} == {
        example,
        f"atomic:auction/{h.third}",
        "atomic:task/intent@1",
    }
    assert {
        "prov:activity": run,
        "prov:agent": "atomic:model/fn:guess",
        "prov:plan": "atomic:task/intent@1",
    }.items() <= next(a for a in related("wasAssociatedWith") if a["prov:activity"] == run).items()
    derived = {(d["prov:generatedEntity"], d["prov:usedEntity"]) for d in related("wasDerivedFrom")}
    assert (example, feedback) in derived
    assert (example, f"atomic:output/{h.second}") in derived
    assert (f"atomic:example/{h.example_a}", f"atomic:feedback/{h.first_feedback}") in derived
    assert {"prov:entity": feedback, "prov:agent": "atomic:source/human"} in related(
        "wasAttributedTo"
    )


async def test_the_migration_backfills_edges_from_stored_auction_records(
    tmp_path: Path, store_url: str
) -> None:
    async with await open_atomic(tmp_path, store_url) as atomic:
        h = await make_history(atomic)
        before = await atomic.lineage(h.third)
        config = alembic_config(atomic.store.url)

        def migrate(connection: Connection, revision: str) -> None:
            config.attributes["connection"] = connection
            if revision == "0008":
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)

        async with atomic.store.engine.begin() as connection:
            await connection.run_sync(migrate, "0008")
        async with atomic.store.engine.begin() as connection:
            await connection.run_sync(migrate, "head")
        after = await atomic.lineage(h.third)

    assert after == before
