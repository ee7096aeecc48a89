"""The structured-output benchmark's coverage part, end to end on five real schemas.

The five were picked from a full run so that each is compiled by llguidance, has valid and
invalid instances, and has every instance judged right by it; between them they also exercise
the other paths of the harness on the GBNF side: a clean compile, an accepted invalid instance
(Kubernetes kb_1025: the converter ignores a constraint), a schema the converter refuses
(Github_easy o10030), and one whose grammar crashes llama.cpp's parser (Github_trivial o9790),
which the worker pool must survive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.llm  # the workers load SmolLM2's GGUF for its vocabulary

ROOT = Path(__file__).parents[2]
DATA = ROOT.parent / "shared" / "data" / "jsonschemabench"
SCHEMAS = (
    "Glaiveai2K---analyze_health_data_4ad104b4",
    "Kubernetes---kb_1025_Normalized",
    "Github_easy---o10030",
    "Github_trivial---o9790",
    "WashingtonPost---wp_107_Normalized",
)
BACKENDS = {"llguidance", "gbnf"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not DATA.is_dir():
        pytest.skip(f"the shared data folder is missing: {DATA}")
    folder = tmp_path_factory.mktemp("jsonschemabench")
    for name in SCHEMAS:  # a folder of the same format, pointing at the shared files
        (folder / f"{name}.json").symlink_to(DATA / f"{name}.json")
    out = folder.parent / "structured.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "structured.py"),
        "--data", str(folder),
        "--out", str(out),
        "--skip-generation",
        "--workers", "2",
    ]  # fmt: skip
    env = {**os.environ, "ATOMIC_CONSTRAINT_BACKEND": "llguidance"}  # the design's choice
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_report_has_machine_versions_and_arguments(report: dict) -> None:
    assert report["benchmark"] == "structured"
    assert report["machine"]["cpu_count"] >= 1
    assert {"llguidance", "llama-cpp-python"} <= set(report["versions"])
    assert report["arguments"]["skip_generation"] is True
    assert "generation" not in report
    assert report["chosen_backend"] in BACKENDS


def test_coverage_counts_every_schema_for_both_backends(report: dict) -> None:
    coverage = report["coverage"]
    assert coverage["schemas_sampled"] == coverage["schemas_in_folder"] == len(SCHEMAS)
    assert set(coverage["backends"]) == BACKENDS
    assert set(coverage["per_schema"]) == set(SCHEMAS)
    for summary in coverage["backends"].values():
        schemas = summary["schemas"]
        assert schemas["attempted"] == len(SCHEMAS)
        assert schemas["compiled"] + schemas["failed"] == len(SCHEMAS)
        assert sum(schemas["failure_kinds"].values()) == schemas["failed"]
        assert set(summary["compile_ms"]) >= {"p50", "p95"}
        for kind in ("valid", "invalid"):
            counts = summary[kind]
            judged = sum(v for k, v in counts.items() if not k.startswith("in_"))
            assert judged == counts["in_compiled_schemas"] <= counts["in_all_schemas"]
    for per_backend in coverage["per_schema"].values():
        assert set(per_backend) == BACKENDS
        for row in per_backend.values():
            assert row["status"] in {"compiled", "failed", "timeout", "crash"}


def test_the_chosen_backend_compiles_all_five_and_accepts_no_invalid_instance(
    report: dict,
) -> None:
    assert report["chosen_backend"] == "llguidance"
    summary = report["coverage"]["backends"]["llguidance"]
    assert summary["schemas"]["compiled"] == len(SCHEMAS)
    assert summary["invalid"].get("accepted", 0) == 0
    assert summary["accepted_invalid"] == []
    assert summary["invalid"]["rejected"] == summary["invalid"]["in_all_schemas"]
    assert summary["valid"]["accepted"] == summary["valid"]["in_all_schemas"]


def test_a_schema_that_kills_a_worker_is_recorded_not_fatal(report: dict) -> None:
    statuses = {row["gbnf"]["status"] for row in report["coverage"]["per_schema"].values()}
    assert "compiled" in statuses  # the other schemas still ran after the failures
    assert statuses <= {"compiled", "failed", "timeout", "crash"}
