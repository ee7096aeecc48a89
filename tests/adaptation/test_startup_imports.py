"""Start-up pays only for what it uses: importing Atomic, and opening it on a task with a
saved classifier and a memory, imports none of the heavy libraries; nor does loading memory
vectorise it, and the results of retrieval do not change for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from atomic import Atomic, AtomicSettings
from atomic.adaptation import LexicalIndex

HEAVY = ("sklearn", "scipy", "llama_cpp", "dbos", "temporalio")
SRC = Path(__file__).resolve().parents[2] / "src"


def _heavy_imported(code: str, home: Path) -> list[str]:
    """Which heavy modules a fresh interpreter holds after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATOMIC_")}
    env["ATOMIC_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_import_atomic_imports_no_heavy_library(tmp_path: Path) -> None:
    assert _heavy_imported("import atomic", tmp_path) == []


async def test_opening_atomic_with_a_saved_classifier_imports_no_heavy_library(
    tmp_path: Path,
) -> None:
    examples = [
        ({"text": f"my card has not arrived yet {i}"}, "card_arrival") for i in range(15)
    ] + [({"text": f"I forgot my pin, change it {i}"}, "change_pin") for i in range(15)]
    async with await Atomic.open(AtomicSettings(home=tmp_path)) as atomic:
        await atomic.remember("banking77-intent", examples)
        status = await atomic.task_status("banking77-intent")
        assert status.classifier is not None
        assert status.classifier.trained

    opening = """
import asyncio
from atomic import Atomic

async def main():
    async with await Atomic.open() as atomic:
        status = await atomic.task_status("banking77-intent")
        assert status.classifier.trained and status.memory_size == 30, status
        assert atomic.adaptation.learned_models()[0].declines("banking77-intent", "default") is None

asyncio.run(main())
"""
    assert _heavy_imported(opening, tmp_path) == []
    # The first prediction is what loads scikit-learn.
    predict = 'atomic.adaptation.classifier("default", "banking77-intent").predict("card")'
    predicting = opening.replace("is None\n", f"is None\n        {predict}\n")
    assert "sklearn" in _heavy_imported(predicting, tmp_path)


def test_a_lazily_vectorised_index_finds_what_an_eagerly_vectorised_one_finds() -> None:
    texts = [
        "my card has still not arrived",
        "how do I change my pin",
        "why was I charged an atm fee",
        "card arrival takes too long",
        "I want a new pin code",
        "extra fee for cash withdrawal",
    ] * 3
    items = [(f"t{i}", f"{text} {i}") for i, text in enumerate(texts)]
    lazy, eager = LexicalIndex(), LexicalIndex()
    lazy.add_many(items)
    for item in items:
        eager.add(*item)
        eager._vectorise()  # as the index did before: counts computed on add
    assert lazy._waiting  # loading alone vectorised nothing
    for query in ("card not arrived", "pin change", "atm cash fee", "nothing alike"):
        assert lazy.search(query, 4) == eager.search(query, 4)
    lazy.add("t0", "replaced: a pin question now")
    eager.add("t0", "replaced: a pin question now")
    eager._vectorise()
    assert lazy.search("pin question", 3) == eager.search("pin question", 3)
