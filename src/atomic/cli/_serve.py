"""``atomic serve`` and ``atomic keys create | list | revoke``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from atomic.errors import AtomicError

from ._output import err_console, fail

if TYPE_CHECKING:
    from atomic.settings import AtomicSettings

__all__ = ["bench_service", "keys_app", "serve"]

console = Console()

T = TypeVar("T")

keys_app = typer.Typer(help="API keys of the service: each bound to a tenant, stored hashed.")


def _settings(db: str | None) -> AtomicSettings:
    # The CLI's own: atomic.toml, then ATOMIC_* variables, then --db; a bad value is one
    # message, not a traceback. Imported here, as _app imports this module.
    from atomic.cli._app import _settings as load

    return load(db)


def _run(body: Callable[[], Awaitable[T]], *, as_json: bool = False) -> T:
    # The CLI's runner of async bodies: an Atomic error is a message and its exit code.
    from atomic.cli._app import _run as run

    return run(body, as_json=as_json)


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (overrides ATOMIC_DATABASE_URL).", show_default=False),
]


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (ATOMIC_SERVICE_HOST).", show_default=False)
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (ATOMIC_SERVICE_PORT).", show_default=False)
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes (ATOMIC_SERVICE_WORKERS).", show_default=False),
    ] = None,
    keys: Annotated[
        bool | None,
        typer.Option(
            "--keys/--no-keys",
            help="Require API keys (default: off loopback, or once any key exists).",
            show_default=False,
        ),
    ] = None,
    workflows: Annotated[
        str | None,
        typer.Option(
            "--workflows",
            "-w",
            help="Workflows to start at POST /v1/workflows/{name}: module:attribute (or a "
            "module), comma-separated (ATOMIC_WORKFLOWS).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Serve the REST API (runs, tasks, workflows), the OpenAI-compatible endpoint, metrics
    and the dashboard (FastAPI on uvicorn)."""
    from atomic.service._server import decide_keys
    from atomic.service._server import serve as run_server

    settings = _settings(db)
    if workflows is not None:
        settings = settings.model_copy(
            update={"workflows": [w.strip() for w in workflows.split(",") if w.strip()]}
        )
    bind = host or settings.service_host
    try:
        if settings.workflows:  # a bad name is one message here, not a failed worker start
            from atomic.workflows import load_workflows

            load_workflows(settings.workflows)
        required = asyncio.run(decide_keys(settings, bind, keys))
        run_server(
            settings,
            host=bind,
            port=port or settings.service_port,
            workers=workers or settings.service_workers,
            keys=required,
        )
    except AtomicError as exc:
        fail(exc)


@keys_app.command("create")
def create_key(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts as.")],
    admin: Annotated[bool, typer.Option(help="May act as any tenant.")] = False,
    name: Annotated[str | None, typer.Option(help="A label.", show_default=False)] = None,
    budget_usd: Annotated[
        float | None, typer.Option(help="Spend cap in USD.", show_default=False)
    ] = None,
    rate_per_minute: Annotated[
        int | None, typer.Option(help="Requests a minute.", show_default=False)
    ] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a key; its secret is printed once and never stored."""
    from atomic.service._keys import KeyStore
    from atomic.storage import Store

    async def body() -> str:
        async with await Store.open(_settings(db).resolved_database_url()) as store:
            new = await KeyStore(store.engine).create(
                tenant, admin=admin, name=name, budget_usd=budget_usd,
                rate_per_minute=rate_per_minute,
            )  # fmt: skip
        if as_json:
            return json.dumps({"secret": new.secret, **new.key.model_dump(mode="json")})
        return f"{new.key.id} for tenant {tenant}{' (admin)' if admin else ''}\n{new.secret}"

    out = _run(body, as_json=as_json)
    print(out)
    if not as_json:
        err_console.print("Keep the key now: only its hash is stored.")


@keys_app.command("list")
def list_keys(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every key: id, tenant, role, budget and spend, state; never a secret."""
    from atomic.service._keys import ApiKey, KeyStore
    from atomic.storage import Store

    async def body() -> list[ApiKey]:
        async with await Store.open(_settings(db).resolved_database_url()) as store:
            return await KeyStore(store.engine).list()

    found = _run(body, as_json=as_json)
    if as_json:
        print(json.dumps([k.model_dump(mode="json") for k in found], indent=2))
        return
    table = Table("id", "tenant", "role", "spent / budget", "state")
    for k in found:
        budget = "—" if k.budget_usd is None else f"{k.budget_usd:.2f}"
        table.add_row(
            k.id,
            k.tenant,
            "admin" if k.admin else "user",
            f"{k.spent_usd:.4f} / {budget}",
            "revoked" if k.revoked_at else "active",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id.")], db: DbOption = None
) -> None:
    """Revoke a key: its requests get 401 from now on."""
    from atomic.service._keys import KeyStore
    from atomic.storage import Store

    async def body() -> None:
        async with await Store.open(_settings(db).resolved_database_url()) as store:
            await KeyStore(store.engine).revoke(key_id)

    _run(body)
    print(f"revoked {key_id}")


def bench_service(ctx: typer.Context) -> None:
    """Requests per second and added latency (p50/p99) of /v1/chat/completions and task runs
    against the same loopback upstream called directly, at concurrency 1, 16 and 64, on SQLite
    and PostgreSQL, with LiteLLM's proxy when a `litellm` executable is found.

    Options (--requests, --litellm, --pg-url, --no-postgres, --out) are those of
    benchmarks/service.py; see `python benchmarks/service.py --help`.
    """
    from atomic.cli._bench import load_benchmark

    try:
        load_benchmark("service").main(list(ctx.args))
    except AtomicError as exc:
        fail(exc)
