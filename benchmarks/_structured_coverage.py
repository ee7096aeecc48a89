"""Schema coverage of the constraint backends, measured in worker processes with time limits.

Each (schema, backend) pair is one job: compile the schema, bind it to SmolLM2's vocabulary,
then feed every test instance of the schema through ``accepts``. Jobs run in a small pool of
child processes; a child that goes silent for longer than the time limit (a pathological
grammar) or dies (an abort inside llama.cpp) is killed and replaced, and the job is recorded as
such instead of hanging or ending the run.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Job", "SchemaFile", "SchemaResult", "load_schema_files", "run_jobs", "summarise"]

TOKENIZER_MODEL = "llamacpp:smollm2-135m-instruct"
"""Whose vocabulary the instances are tokenized with (the smallest built-in model)."""

_READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class SchemaFile:
    """One file of the JSONSchemaBench format: a schema and its instances, marked valid or not."""

    path: Path
    valid: tuple[bool, ...]
    descriptions: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.stem

    @classmethod
    def read(cls, path: Path) -> SchemaFile:
        doc = json.loads(path.read_text(encoding="utf-8"))
        tests = doc["tests"]
        return cls(
            path=path,
            valid=tuple(bool(t["valid"]) for t in tests),
            descriptions=tuple(str(t.get("description", "")) for t in tests),
        )


def load_schema_files(folder: Path, limit: int | None, seed: int) -> tuple[int, list[SchemaFile]]:
    """The schema files of ``folder`` (all, or a fixed-seed sample of ``limit``), sorted by name.

    Returns the number of files in the folder and the ones chosen.
    """
    import random

    paths = sorted(p for p in folder.glob("*.json") if p.is_file())
    if not paths:
        raise SystemExit(f"no *.json schema files in {folder}")
    total = len(paths)
    if limit is not None and limit < total:
        paths = sorted(random.Random(seed).sample(paths, limit))
    return total, [SchemaFile.read(p) for p in paths]


@dataclass(frozen=True)
class Job:
    schema: SchemaFile
    backend: str


@dataclass
class SchemaResult:
    """What one backend made of one schema."""

    schema: str
    backend: str
    status: str = "pending"
    """``compiled``, ``failed`` (the backend refused it), ``timeout`` or ``crash``."""
    reason: str | None = None
    compile_ms: float | None = None
    """Compiling and binding to the vocabulary, as a first constrained call pays it."""
    bare_compile_ms: float | None = None
    """The backend's compile step alone (llguidance's JSON-to-grammar, or JSON-to-GBNF)."""
    verdicts: dict[int, str] = field(default_factory=dict)
    """Per instance: ``accepted``, ``rejected``, ``skipped`` (too long), ``timeout``, ``crash``
    or ``error``."""
    spaced_differs: list[int] = field(default_factory=list)
    """Instances whose verdict changes when serialised with spaces (``json.dumps`` default)."""
    tokens: dict[int, int] = field(default_factory=dict)


# -- the child process ---------------------------------------------------------------------


def _silence_stderr() -> None:
    """llama.cpp prints a whole grammar to stderr when it rejects one; keep the console readable."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _worker(conn: Connection, home: str, max_tokens: int) -> None:
    """Bind SmolLM2's vocabulary once, then check every job the parent sends."""
    _silence_stderr()
    from atomic.models import builtin_local_model
    from atomic.settings import AtomicSettings, ConstraintBackend
    from atomic.structured._constraint import constraint_engine

    settings = AtomicSettings(home=Path(home), n_ctx=512, threads=1)
    tokenizer = builtin_local_model(TOKENIZER_MODEL, settings).constraint_tokenizer()
    engines = {b.value: constraint_engine(b) for b in ConstraintBackend}
    for engine in engines.values():  # build each backend's view of the vocabulary now
        engine.accepts(engine.compile({"type": "integer"}), "1", tokenizer)
    conn.send(("ready",))
    while (job := conn.recv()) is not None:
        path, backend = job
        _check(conn, Path(path), engines[backend], tokenizer, max_tokens)


def _check(conn: Connection, path: Path, engine: Any, tokenizer: Any, max_tokens: int) -> None:
    from atomic.errors import ConstraintError

    doc = json.loads(path.read_text(encoding="utf-8"))
    start = time.perf_counter()
    try:
        compiled = engine.compile(doc["schema"])
        bare_ms = (time.perf_counter() - start) * 1000
        # Binding parses the grammar against the vocabulary (llguidance builds its parser,
        # llama.cpp parses the GBNF); a schema that fails here is as unusable as one that
        # fails to compile.
        engine.accepts(compiled, "", tokenizer)
    except ConstraintError as exc:
        ms = (time.perf_counter() - start) * 1000
        conn.send(("failed", str(exc.context.get("reason", exc.message)), ms))
        return
    except Exception as exc:  # an engine bug, not a declared limitation: reported as such
        ms = (time.perf_counter() - start) * 1000
        conn.send(("failed", f"unexpected {type(exc).__name__}: {exc}", ms))
        return
    conn.send(("compiled", (time.perf_counter() - start) * 1000, bare_ms))
    for index, test in enumerate(doc["tests"]):
        compact = json.dumps(test["data"], separators=(",", ":"), ensure_ascii=False)
        n_tokens = len(tokenizer.tokenize(compact))
        if n_tokens > max_tokens:
            conn.send(("instance", index, "skipped", False, n_tokens))
            continue
        try:
            verdict = engine.accepts(compiled, compact, tokenizer)
            spaced = json.dumps(test["data"], ensure_ascii=False)
            differs = spaced != compact and engine.accepts(compiled, spaced, tokenizer) != verdict
        except Exception as exc:
            conn.send(("instance", index, f"error: {type(exc).__name__}", False, n_tokens))
            continue
        conn.send(("instance", index, "accepted" if verdict else "rejected", differs, n_tokens))
    # Forget this schema's bound grammar: a long run should hold one schema at a time.
    for key in [k for k in tokenizer.cache if isinstance(k, tuple) and compiled in k]:
        del tokenizer.cache[key]
    conn.send(("done",))


# -- the parent ----------------------------------------------------------------------------


class _Slot:
    """One child process and the job it is on."""

    def __init__(self, ctx: Any, home: str, max_tokens: int) -> None:
        parent, child = ctx.Pipe()
        self.conn: Connection = parent
        self.process = ctx.Process(target=_worker, args=(child, home, max_tokens), daemon=True)
        self.process.start()
        child.close()
        self.job: Job | None = None
        self.result: SchemaResult | None = None
        self.deadline = time.monotonic() + _READY_TIMEOUT_S
        self.ready = False

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


def _apply(result: SchemaResult, message: tuple[Any, ...]) -> bool:
    """Record one message from a child; True when the job is finished."""
    kind = message[0]
    if kind == "failed":
        result.status, result.reason, result.compile_ms = "failed", message[1], message[2]
        return True
    if kind == "compiled":
        result.status, result.compile_ms, result.bare_compile_ms = (
            "compiled",
            message[1],
            message[2],
        )
        return False
    if kind == "instance":
        _, index, verdict, differs, n_tokens = message
        result.verdicts[index] = verdict
        result.tokens[index] = n_tokens
        if differs:
            result.spaced_differs.append(index)
        return False
    return bool(kind == "done")


def _abandon(result: SchemaResult, schema: SchemaFile, why: str, timeout_s: float) -> None:
    """A job whose child was killed (``timeout``) or died (``crash``)."""
    if result.status == "pending":
        result.status = why
        result.reason = f"{why} while compiling" + (
            f" (> {timeout_s:g} s)" if why == "timeout" else ""
        )
        return
    for index in range(len(schema.valid)):
        if index not in result.verdicts:
            result.verdicts[index] = why  # the one it stopped on, and those never reached


def run_jobs(
    jobs: Sequence[Job],
    *,
    workers: int,
    timeout_s: float,
    max_tokens: int,
    home: Path,
    on_done: Callable[[SchemaResult], None] = lambda _: None,
) -> list[SchemaResult]:
    """Run every job in ``workers`` child processes; ``timeout_s`` bounds each step of a job."""
    ctx = mp.get_context("spawn")  # a fresh interpreter: no llama.cpp state copied by fork
    pending = list(reversed(jobs))
    slots = [_Slot(ctx, str(home), max_tokens) for _ in range(max(1, min(workers, len(jobs))))]
    results: list[SchemaResult] = []

    def finish(slot: _Slot) -> None:
        assert slot.result is not None
        results.append(slot.result)
        on_done(slot.result)
        slot.job, slot.result = None, None

    try:
        while True:
            for slot in slots:
                if slot.ready and slot.job is None and pending:
                    slot.job = pending.pop()
                    slot.result = SchemaResult(slot.job.schema.name, slot.job.backend)
                    slot.conn.send((str(slot.job.schema.path), slot.job.backend))
                    slot.deadline = time.monotonic() + timeout_s
            # Only a child that is starting or on a job can be late.
            active = [s for s in slots if s.job is not None or not s.ready]
            if not active:
                break
            wait_s = max(0.0, min(s.deadline for s in active) - time.monotonic())
            ready = set(wait([s.conn for s in active], timeout=wait_s))
            for i, slot in enumerate(slots):
                if slot not in active:
                    continue
                lost: str | None = None
                if slot.conn in ready:
                    try:
                        message = slot.conn.recv()
                    except (EOFError, OSError):
                        lost = "crash"
                    else:
                        slot.deadline = time.monotonic() + timeout_s
                        if message[0] == "ready":
                            slot.ready = True
                        elif slot.result is not None and _apply(slot.result, message):
                            finish(slot)
                elif time.monotonic() >= slot.deadline:
                    lost = "timeout"
                if lost is None:
                    continue
                if slot.job is None or slot.result is None:
                    raise RuntimeError(
                        f"a coverage worker could not start ({lost}); check that "
                        f"{TOKENIZER_MODEL} loads: `atomic models`"
                    )
                _abandon(slot.result, slot.job.schema, lost, timeout_s)
                finish(slot)
                slot.kill()
                slots[i] = _Slot(ctx, str(home), max_tokens)
    finally:
        for slot in slots:
            slot.kill()
    return results


# -- summary -------------------------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def failure_kind(reason: str) -> str:
    """A failure reason with its schema-specific parts (fragments, refs, names) folded away."""
    text = reason.strip().splitlines()[0] if reason.strip() else "unknown"
    text = re.sub(r"\{.*", "{…}", text)
    text = re.sub(r"'#/[^']*'", "'#/…'", text)
    text = re.sub(r"\bat line \d+.*", "", text)
    return text[:90]


def summarise(
    backend: str, results: Iterable[SchemaResult], schemas: dict[str, SchemaFile]
) -> dict[str, Any]:
    """Every number of the coverage table for one backend, and the instances behind the bugs."""
    mine = [r for r in results if r.backend == backend]
    compiled = [r for r in mine if r.status == "compiled"]
    kinds = Counter(failure_kind(r.reason or r.status) for r in mine if r.status != "compiled")
    times = [r.compile_ms for r in compiled if r.compile_ms is not None]
    bare = [r.bare_compile_ms for r in compiled if r.bare_compile_ms is not None]
    counts: dict[str, Counter[str]] = {"valid": Counter(), "invalid": Counter()}
    accepted_invalid: list[dict[str, Any]] = []
    rejected_valid: list[dict[str, Any]] = []
    spaced = 0
    for result in compiled:
        schema = schemas[result.schema]
        spaced += len(result.spaced_differs)
        for index, verdict in result.verdicts.items():
            valid = schema.valid[index]
            key = verdict.split(":")[0]
            counts["valid" if valid else "invalid"][key] += 1
            where = {
                "schema": result.schema,
                "instance": index,
                "description": schema.descriptions[index],
            }
            if not valid and verdict == "accepted":
                accepted_invalid.append(where)
            elif valid and verdict == "rejected":
                rejected_valid.append(where)
    total_valid = sum(sum(s.valid) for s in schemas.values())
    total_invalid = sum(len(s.valid) - sum(s.valid) for s in schemas.values())
    return {
        "schemas": {
            "attempted": len(mine),
            "compiled": len(compiled),
            "failed": len(mine) - len(compiled),
            "timeouts": sum(r.status == "timeout" for r in mine),
            "crashes": sum(r.status == "crash" for r in mine),
            "failure_kinds": dict(kinds.most_common()),
        },
        "compile_ms": {
            "what": "compile + bind to the SmolLM2 vocabulary, per compiled schema",
            "p50": _percentile(times, 50),
            "p95": _percentile(times, 95),
            "max": _percentile(times, 100),
            "bare_compile_p50": _percentile(bare, 50),
            "bare_compile_p95": _percentile(bare, 95),
        },
        "valid": {
            "in_all_schemas": total_valid,
            "in_compiled_schemas": sum(counts["valid"].values()),
            **dict(counts["valid"]),
        },
        "invalid": {
            "in_all_schemas": total_invalid,
            "in_compiled_schemas": sum(counts["invalid"].values()),
            **dict(counts["invalid"]),
        },
        "whitespace_sensitive_instances": spaced,
        "accepted_invalid": accepted_invalid,
        "rejected_valid": rejected_valid[:100],
    }
