"""What the service adds: requests per second and added latency (p50, p99) of Atomic's
``/v1/chat/completions`` and ``POST /v1/tasks/{task}/runs`` against calling the same loopback
upstream directly, at concurrency 1, 16 and 64, on SQLite and PostgreSQL; and LiteLLM's proxy in
front of the same upstream when a ``litellm`` executable is found (``--litellm``; it is never a
dependency of Atomic: install ``litellm[proxy]`` in a venv of its own).

    .venv/bin/python benchmarks/service.py [--requests 400] [--litellm PATH] [--no-postgres]

Each server runs in its own process (upstream, Atomic via ``atomic serve``, LiteLLM); the load
comes from this one. Atomic runs an auction and persists every run and attempt before it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atomic._net import free_port
from benchmarks._common import postgres_url, write_report

console = Console()
ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 16, 64)
CHAT = {"model": "atomic:auto", "messages": [{"role": "user", "content": "hello"}]}
RUN = {"input": {"text": "Thanks, it worked!"}}
LITELLM_KEY = "sk-atomic-bench"


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} in {timeout:.0f} s")


@contextmanager
def _process(
    args: list[str], url: str, what: str, env: dict[str, str] | None = None
) -> Iterator[None]:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(url, proc, what)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _atomic_env(home: Path, upstream: str, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATOMIC_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]),
            "ATOMIC_HOME": str(home),
            "ATOMIC_LOCAL_MODELS": "[]",
            "ATOMIC_LEARNED_MODELS": "0",
            "ATOMIC_OPENAI_BASE_URL": upstream,
            "ATOMIC_OPENAI_MODELS": '["up"]',
            "ATOMIC_OPENAI_API_KEY": "bench",
        }
    )
    if database_url:
        env["ATOMIC_DATABASE_URL"] = database_url
    return env


async def _measure(
    url: str,
    body: dict[str, Any],
    concurrency: int,
    n: int,
    headers: dict[str, str] | None = None,
) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as client:
        for _ in range(min(20, n)):  # warm-up: connections, caches, the learner's first state
            await client.post(url, json=body)
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            nonlocal errors
            async with gate:
                start = time.perf_counter()
                response = await client.post(url, json=body)
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "rps": n / wall,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "errors": errors,
    }


def _litellm_config(folder: Path, upstream: str) -> Path:
    path = folder / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: up\n"
        "    litellm_params:\n"
        "      model: openai/up\n"
        f"      api_base: {upstream}\n"
        "      api_key: bench\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
    )
    return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.requests
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        up_port = free_port()
        upstream = f"http://127.0.0.1:{up_port}/v1"
        stack.enter_context(
            _process(
                [sys.executable, str(ROOT / "benchmarks" / "_service_upstream.py"), str(up_port)],
                f"{upstream}/models",
                "the upstream",
            )
        )
        direct = {**CHAT, "model": "up"}
        for c in CONCURRENCY:
            stats = asyncio.run(_measure(f"{upstream}/chat/completions", direct, c, n))
            rows.append({"target": "direct", "db": "-", "concurrency": c, **stats})
        # --litellm "" leaves LiteLLM out even when one is on PATH.
        litellm = shutil.which("litellm") if args.litellm is None else args.litellm
        if litellm:
            port = free_port()
            stack.enter_context(
                _process(
                    [
                        litellm,
                        "--config",
                        str(_litellm_config(folder, upstream)),
                        "--port",
                        str(port),
                    ],
                    f"http://127.0.0.1:{port}/health/liveliness",
                    "LiteLLM's proxy",
                )
            )
            for c in CONCURRENCY:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                bearer = {"Authorization": f"Bearer {LITELLM_KEY}"}
                stats = asyncio.run(_measure(url, direct, c, n, bearer))
                rows.append({"target": "litellm chat", "db": "-", "concurrency": c, **stats})
        else:
            console.print("[yellow]no litellm executable: LiteLLM's rows are left out[/]")
        pg = stack.enter_context(postgres_url(args.pg_url, not args.no_postgres, "bench_service"))
        for db, url in (("sqlite", None), ("postgres", pg)):
            if db == "postgres" and url is None:
                continue
            port = free_port()
            home = folder / db
            env = _atomic_env(home, upstream, url)
            atomic = [sys.executable, "-c", "from atomic.cli import main; main()"]
            with _process(
                [*atomic, "serve", "--port", str(port)],
                f"http://127.0.0.1:{port}/healthz",
                "atomic serve",
                env,
            ):
                base = f"http://127.0.0.1:{port}/v1"
                for c in CONCURRENCY:
                    chat = asyncio.run(_measure(f"{base}/chat/completions", CHAT, c, n))
                    rows.append({"target": "atomic chat", "db": db, "concurrency": c, **chat})
                    task = asyncio.run(_measure(f"{base}/tasks/sentiment/runs", RUN, c, n))
                    rows.append({"target": "atomic run", "db": db, "concurrency": c, **task})
    baseline = {r["concurrency"]: r for r in rows if r["target"] == "direct"}
    for row in rows:
        base = baseline[row["concurrency"]]
        row["added_p50_ms"] = row["p50_ms"] - base["p50_ms"]
        row["added_p99_ms"] = row["p99_ms"] - base["p99_ms"]
    return {
        "benchmark": "service",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "requests_per_point": n,
        "litellm": bool(litellm),
        "rows": rows,
    }


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"Service overhead ({report['requests_per_point']} requests a point)")
    for column in ("target", "db", "conc.", "req/s", "p50 ms", "p99 ms", "+p50", "+p99", "err"):
        table.add_column(column, justify="left" if column in ("target", "db") else "right")
    for r in report["rows"]:
        table.add_row(
            r["target"], r["db"], str(r["concurrency"]), f"{r['rps']:.0f}",
            f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
            f"{r['added_p50_ms']:.1f}", f"{r['added_p99_ms']:.1f}", str(r["errors"]),
        )  # fmt: skip
    return table


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    series: dict[str, list[tuple[int, float]]] = {}
    for r in report["rows"]:
        label = r["target"] if r["db"] == "-" else f"{r['target']} ({r['db']})"
        series.setdefault(label, []).append((r["concurrency"], r["p50_ms"]))
    for label, points in series.items():
        ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrency")
    ax.set_ylabel("p50 latency (ms)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    console.print(f"Wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="Requests per point.")
    parser.add_argument("--litellm", help="The litellm executable (default: on PATH).")
    parser.add_argument("--pg-url", help="A PostgreSQL URL (default: a throwaway server).")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "service.json"))
    args = parser.parse_args(argv)
    report = run(args)
    console.print(_table(report))
    write_report(report, args.out, console)
    _plot(report, Path(args.out).with_suffix(".png"))


if __name__ == "__main__":
    main()
