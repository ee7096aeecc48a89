"""The seed emails of urgency and sentiment: every label covered, none of them among the emails
the demo scores, and the demo puts them in both tasks' memories."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import get_args

import pytest
from rich.console import Console

from atomic import AtomicSettings
from atomic.adaptation._text import input_key
from atomic.apps.inbox import (
    SeedEmail,
    default_banking77_path,
    load_emails,
    load_seeds,
    open_inbox,
)
from atomic.apps.inbox._demo import run_inbox_demo
from atomic.apps.inbox._tasks import Sentiment, Urgency
from atomic.errors import InputValidationError
from tests.apps.test_inbox import EMAILS, answering, oracle_answer

SEEDS = load_seeds()
SHARED_WORDS = 8
"""A run of this many words in both a seed and a scored email would mean one was copied:
shorter runs are the phrases every banking email uses ("how do I get it back")."""


def _runs(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {" ".join(words[i : i + SHARED_WORDS]) for i in range(len(words) - SHARED_WORDS + 1)}


def _scored_texts() -> list[str]:
    """The handwritten emails, and every Banking77 test query (the demo samples its emails
    from them) when the data is next to the checkout."""
    texts = [f"{e.email.subject}\n{e.email.body}" for e in load_emails()]
    path = default_banking77_path("test")
    if path.exists():
        with path.open(newline="", encoding="utf-8") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)]
    return texts


def test_the_seeds_cover_every_urgency_and_sentiment_label() -> None:
    assert 50 <= len(SEEDS) <= 300
    assert len({s.id for s in SEEDS}) == len(SEEDS)
    assert len({input_key(s.content().model_dump()) for s in SEEDS}) == len(SEEDS)
    urgencies = Counter(s.urgency for s in SEEDS)
    sentiments = Counter(s.sentiment for s in SEEDS)
    assert set(urgencies) == set(get_args(Urgency))
    assert set(sentiments) == set(get_args(Sentiment))
    assert min(urgencies.values()) >= 10, urgencies
    assert min(sentiments.values()) >= 10, sentiments


def test_no_seed_is_among_the_emails_the_demo_scores() -> None:
    scored = _scored_texts()
    scored_runs = set().union(*(_runs(text) for text in scored))
    scored_keys = {input_key(e.email.content().model_dump()) for e in load_emails()}
    scored_keys |= {input_key({"text": e.email.content().text}) for e in load_emails()}
    lowered = [" ".join(text.lower().split()) for text in scored]
    for seed in SEEDS:
        content = seed.content()
        assert input_key(content.model_dump()) not in scored_keys, seed.id
        assert input_key({"text": content.text}) not in scored_keys, seed.id
        shared = _runs(f"{seed.subject}\n{seed.body}") & scored_runs
        assert not shared, (seed.id, shared)
        core = " ".join(seed.body.lower().split())
        assert not any(core in text for text in lowered), seed.id


def test_a_bad_seed_line_is_an_error_that_names_it(tmp_path: Path) -> None:
    bad = SEEDS[0].model_dump() | {"urgency": "someday"}
    path = tmp_path / "seeds.jsonl"
    path.write_text(f"{SEEDS[0].model_dump_json()}\n\n{json.dumps(bad)}\n")
    with pytest.raises(InputValidationError, match=r"seeds.jsonl:3 is not a valid seed email"):
        load_seeds(path)


async def test_the_demo_seeds_urgency_and_sentiment_and_calibrates_their_classifiers(
    tmp_path: Path,
) -> None:
    console = Console(record=True, width=220)
    # TF-IDF alone: the seeding, not the sentence encoder, is under test here.
    settings = AtomicSettings(home=tmp_path, local_models=[], encoder="none")
    await run_inbox_demo(
        settings,
        console,
        emails=EMAILS[:1],
        models=[answering(oracle_answer)],
        runner="direct",
        feedback=False,
        seed_per_intent=0,
    )
    assert f"with {len(SEEDS)} labelled seed emails" in console.export_text()
    async with await open_inbox(settings, models=[answering(oracle_answer)]) as atomic:
        memory = await atomic.store.load_memory()
        statuses = {t: await atomic.task_status(t) for t in ("urgency", "sentiment")}
    for task, label_of in (("urgency", _urgency), ("sentiment", _sentiment)):
        remembered = Counter(m.output for m in memory if m.task_name == task)
        assert remembered == Counter(label_of(s) for s in SEEDS), task
        classifier = statuses[task].classifier
        assert classifier is not None
        assert classifier.trained
        # Half the seeds trained it first; it judged the other half before learning them.
        assert classifier.heldout_judgements == len(SEEDS) - len(SEEDS) // 2


def _urgency(seed: SeedEmail) -> str:
    return seed.urgency


def _sentiment(seed: SeedEmail) -> str:
    return seed.sentiment
