"""Replay models: recorded LLM answers and prices, served as if the model ran.

A RouterBench-format folder holds ``*_train.csv`` and ``*_test.csv`` files whose rows are
prompts (``sample_id``, ``prompt``, ``eval_name``), and per model a 0/1 quality column named
after the model, a ``<model>|model_response`` column and a ``<model>|total_cost`` column in USD.
:func:`load_routerbench` reads one split; :class:`ReplayModel` answers a call whose task input
carries a ``sample_id`` with that model's recorded response and cost, so the exchange can be
run on real answers and real prices without calling any LLM.
"""

from __future__ import annotations

import ast
import csv
import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from atomic.errors import AtomicError
from atomic.models._base import Model, ModelRequest, ModelResponse, OutputSpec
from atomic.models._card import ModelCard, OutputStrategy, Price, Residency

__all__ = [
    "ReplayModel",
    "RouterBenchData",
    "RouterBenchRow",
    "load_routerbench",
    "replay_model_id",
    "replay_models",
]

Split = Literal["train", "test"]

_COST = "|total_cost"
_RESPONSE = "|model_response"
# Recorded answers can be whole programs; the csv module's 128 KiB field limit is too small.
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


@dataclass(frozen=True)
class RouterBenchRow:
    """One recorded prompt and every model's answer to it."""

    sample_id: str
    prompt: str
    eval_name: str
    quality: Mapping[str, float]
    """Per model: the recorded outcome in [0, 1] (RouterBench's 0/1 correctness)."""
    response: Mapping[str, str]
    cost: Mapping[str, float]
    """Per model: what the recorded call cost, in USD."""


@dataclass(frozen=True)
class RouterBenchData:
    """One split of a RouterBench-format folder."""

    split: str
    models: tuple[str, ...]
    rows: tuple[RouterBenchRow, ...]
    skipped: int
    """Rows left out because a value they need was empty."""
    files: tuple[Path, ...]

    def by_id(self) -> dict[str, RouterBenchRow]:
        return {row.sample_id: row for row in self.rows}

    def mean_cost(self, model: str) -> float:
        return sum(row.cost[model] for row in self.rows) / max(len(self.rows), 1)

    def accuracy(self, model: str) -> float:
        return sum(row.quality[model] for row in self.rows) / max(len(self.rows), 1)


def _unwrap(text: str) -> str:
    """RouterBench stores prompts and responses as Python list literals of turns
    (``"['B']"``); return the turns' text, or ``text`` itself when it is not one."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return text
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)
    return text


def load_routerbench(folder: Path, split: Split) -> RouterBenchData:
    """Read every ``*_<split>.csv`` in ``folder`` (sorted by name) into one split.

    Model names are the columns ending in ``|total_cost``. A row with an empty value in a
    column it needs is skipped and counted in :attr:`RouterBenchData.skipped`. Prompts and
    responses stored as Python list literals are unwrapped to their text.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AtomicError(
            f"RouterBench data folder {folder} does not exist",
            hint="pass a folder holding *_train.csv and *_test.csv files in the RouterBench format",
            context={"folder": str(folder)},
        )
    files = tuple(sorted(folder.glob(f"*_{split}.csv")))
    if not files:
        raise AtomicError(
            f"no *_{split}.csv files in {folder}",
            hint="a RouterBench-format folder has one <name>_train.csv and <name>_test.csv "
            "per dataset",
            context={"folder": str(folder), "split": split},
        )
    csv.field_size_limit(_FIELD_LIMIT)
    models: tuple[str, ...] | None = None
    rows: list[RouterBenchRow] = []
    skipped = 0
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            found = tuple(c[: -len(_COST)] for c in header if c.endswith(_COST))
            _check_header(path, header, found, models)
            models = models or found
            for record in reader:
                row = _row(record, models)
                if row is None:
                    skipped += 1
                else:
                    rows.append(row)
    assert models is not None
    return RouterBenchData(split, models, tuple(rows), skipped, files)


def _check_header(
    path: Path, header: list[str], found: tuple[str, ...], expected: tuple[str, ...] | None
) -> None:
    needed = ["sample_id", "prompt", "eval_name"]
    for model in found:
        needed += [model, model + _RESPONSE]
    missing = [c for c in needed if c not in header]
    if not found or missing:
        raise AtomicError(
            f"{path} is not in the RouterBench format"
            + (f": missing columns {', '.join(missing)}" if missing else ": no |total_cost column"),
            hint="each model needs a quality column <model>, <model>|model_response and "
            "<model>|total_cost, next to sample_id, prompt and eval_name",
            context={"file": str(path), "missing": missing},
        )
    if expected is not None and set(found) != set(expected):
        raise AtomicError(
            f"{path} has models {sorted(found)}, other files of the split have {sorted(expected)}",
            hint="every file of a split must cover the same models",
            context={"file": str(path)},
        )


def _row(record: Mapping[str, str | None], models: tuple[str, ...]) -> RouterBenchRow | None:
    def value(column: str) -> str | None:
        raw = record.get(column)
        return raw if raw not in (None, "") else None

    sample_id, prompt, eval_name = value("sample_id"), value("prompt"), value("eval_name")
    if sample_id is None or prompt is None or eval_name is None:
        return None
    quality: dict[str, float] = {}
    response: dict[str, str] = {}
    cost: dict[str, float] = {}
    for model in models:
        q, r, c = value(model), value(model + _RESPONSE), value(model + _COST)
        if q is None or r is None or c is None:
            return None
        quality[model], response[model], cost[model] = float(q), _unwrap(r), float(c)
    return RouterBenchRow(sample_id, _unwrap(prompt), eval_name, quality, response, cost)


def replay_model_id(name: str) -> str:
    """The card id of a recorded model: ``replay:<name>``, slashes and spaces made ``--``/``-``.

    >>> replay_model_id("mistralai/mixtral-8x7b-chat")
    'replay:mistralai--mixtral-8x7b-chat'
    """
    return "replay:" + name.strip().replace("/", "--").replace(" ", "-")


def _as_output(text: str, output: OutputSpec | None) -> str:
    """The recorded text in the shape the task asked for.

    A text output travels wrapped (``{"text": ...}``); a recorded answer that is a program
    would otherwise be read for the first JSON it contains, so it is wrapped as a compliant
    model would have written it. Any other output kind gets the recorded text as it is.
    """
    if output is None:
        return text
    schema = output.json_schema
    properties = schema.get("properties")
    if schema.get("type") == "object" and isinstance(properties, dict) and len(properties) == 1:
        ((key, inner),) = properties.items()
        if isinstance(inner, dict) and inner.get("type") == "string":
            return json.dumps({key: text}, ensure_ascii=False)
    return text


class ReplayModel(Model):
    """A recorded model: answers ``request.task_input["sample_id"]`` from a RouterBench split.

    The response is the recorded answer and ``cost_usd`` its recorded cost. The card's price
    is the model's mean recorded cost per call on ``price_from`` (the train split, so bids
    never see the costs of the prompts they are evaluated on). ``quality_prior=True`` starts
    the learner at the model's accuracy on ``price_from``; by default it starts uninformed.

    >>> from pathlib import Path
    >>> test = load_routerbench(Path("../shared/data/routerbench"), "test")  # doctest: +SKIP
    >>> train = load_routerbench(Path("../shared/data/routerbench"), "train")  # doctest: +SKIP
    >>> ReplayModel("gpt-4-1106-preview", test, price_from=train).id  # doctest: +SKIP
    'replay:gpt-4-1106-preview'
    """

    def __init__(
        self,
        name: str,
        answers: RouterBenchData,
        *,
        price_from: RouterBenchData | None = None,
        quality_prior: bool = False,
    ) -> None:
        if name not in answers.models:
            raise AtomicError(
                f"model {name!r} is not in the recorded data",
                hint=f"recorded models: {', '.join(answers.models)}",
                context={"model": name, "models": list(answers.models)},
            )
        reference = price_from or answers
        self.name = name
        self._rows = answers.by_id()
        self.card = ModelCard(
            id=replay_model_id(name),
            price=Price(
                per_call=reference.mean_cost(name),
                source=f"RouterBench {reference.split} split mean",
            ),
            # The recordings exist for every prompt, so no prompt was too long for the model.
            context_window=10_000_000,
            residency=Residency.CLOUD,
            strategies=frozenset({OutputStrategy.PROMPT}),
            quality_prior=reference.accuracy(name) if quality_prior else None,
            description=f"recorded answers of {name} ({answers.split} split)",
        )

    async def invoke(self, request: ModelRequest) -> ModelResponse:
        start = time.perf_counter()
        sample_id = (request.task_input or {}).get("sample_id")
        row = self._rows.get(sample_id) if isinstance(sample_id, str) else None
        if row is None:
            raise AtomicError(
                f"{self.id} has no recorded answer for sample_id {sample_id!r}",
                hint="replay models answer only task inputs whose sample_id is in the split "
                "they were loaded from",
                context={"model_id": self.id, "sample_id": sample_id},
            )
        return ModelResponse(
            model_id=self.id,
            text=_as_output(row.response[self.name], request.output),
            cost_usd=row.cost[self.name],
            latency_ms=(time.perf_counter() - start) * 1000,
            finish_reason="stop",
            strategy=OutputStrategy.PROMPT,
        )


def replay_models(
    answers: RouterBenchData,
    *,
    price_from: RouterBenchData | None = None,
    quality_prior: bool = False,
    names: Iterable[str] | None = None,
) -> list[ReplayModel]:
    """A :class:`ReplayModel` for every recorded model (or those in ``names``)."""
    return [
        ReplayModel(name, answers, price_from=price_from, quality_prior=quality_prior)
        for name in (answers.models if names is None else names)
    ]
