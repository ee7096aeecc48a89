"""``atomic audit list | verify | export``: the egress ledger from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from atomic.errors import AtomicError
from atomic.views._table import Column, fit_table, print_fitted

from ._output import console, emit_json, err_console, fail

if TYPE_CHECKING:
    from atomic.audit import ChainReport, EgressEntry, EgressLedger
    from atomic.settings import AtomicSettings

__all__ = ["AuditChainError", "audit_app"]

T = TypeVar("T")

audit_app = typer.Typer(
    help="The egress ledger: every payload of task data sent to a non-local model, recorded "
    "before it left and hash-chained so an edit or a deletion shows."
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (overrides ATOMIC_DATABASE_URL).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class AuditChainError(AtomicError):
    """The egress ledger's chain does not verify."""

    code = "audit.chain_broken"


def _settings(db: str | None, as_json: bool) -> AtomicSettings:
    from atomic.cli._app import _settings as load

    return load(db, as_json=as_json)


def _run(body: Callable[[], Awaitable[T]], *, as_json: bool = False) -> T:
    from atomic.cli._app import _run as run

    return run(body, as_json=as_json)


async def _with_ledger(settings: AtomicSettings, use: Callable[[EgressLedger], Awaitable[T]]) -> T:
    # The store alone: reading the ledger needs no model, task or learner.
    from atomic.audit import EgressLedger
    from atomic.storage import Store

    async with await Store.open(settings.resolved_database_url()) as store:
        return await use(EgressLedger(store.engine, tenant=settings.tenant))


@audit_app.command("list")
def list_entries(
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's entries.", show_default=False)
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="Only this run's entries.", show_default=False)
    ] = None,
    after: Annotated[int, typer.Option(min=0, help="Cursor: entries after this seq.")] = 0,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many entries.")] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
    wide: Annotated[bool, typer.Option("--wide", help="Show every column, cut nothing.")] = False,
) -> None:
    """Entries in chain order: when, tenant, run, model, host, residency, bytes, payload hash."""
    settings = _settings(db, as_json)

    async def body() -> list[EgressEntry]:
        return await _with_ledger(
            settings,
            lambda ledger: ledger.entries(tenant=tenant, run_id=run, after=after, limit=limit),
        )

    found = _run(body, as_json=as_json)
    if as_json:
        emit_json([e.model_dump(mode="json") for e in found])
        return
    if not found:
        console.print("No egress recorded: no task data has been sent to a non-local model.")
        return
    print_fitted(console, _entries_table(found, console.width, wide))
    if len(found) == limit:
        console.print(f"[dim]More: atomic audit list --after {found[-1].seq}[/dim]", soft_wrap=True)


def _entries_table(entries: list[EgressEntry], width: int, wide: bool) -> Any:
    columns = [
        Column("seq", primary=True, justify="right"),
        Column("when (UTC)", drop=4),
        Column("tenant", drop=5),
        Column("run", drop=3),
        Column("model", primary=True),
        Column("host", drop=6),
        Column("residency", drop=7),
        Column("bytes", justify="right", drop=2),
        Column("payload sha256", flex=12, drop=1),
    ]
    rows = [
        [
            str(e.seq),
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.tenant,
            e.run_id or "-",
            e.model_id,
            e.endpoint_host,
            e.residency + (f" ({e.region})" if e.region else ""),
            f"{e.byte_count:,}",
            e.payload_sha256,
        ]
        for e in entries
    ]
    return fit_table(columns, rows, width=width, title="Egress ledger", wide=wide)


@audit_app.command("verify")
def verify(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Check the chain: each entry's hash, each link to the one before, no gap. Exits 1 and
    names every entry that was edited or deleted."""
    settings = _settings(db, as_json)

    async def body() -> ChainReport:
        return await _with_ledger(settings, lambda ledger: ledger.verify())

    report = _run(body, as_json=as_json)
    if not report.ok:
        named = sorted({p.seq for p in report.problems})
        fail(
            AuditChainError(
                f"the egress ledger does not verify: {len(report.problems)} problem(s) at "
                f"entr{'y' if len(named) == 1 else 'ies'} {', '.join(map(str, named))}: "
                + "; ".join(p.message for p in report.problems),
                hint="the ledger was changed outside Atomic; compare it with your last signed "
                "export (atomic audit export) and find who had write access to the database",
                context={
                    "entries": report.entries,
                    "problems": [
                        {"seq": p.seq, "kind": p.kind, "message": p.message}
                        for p in report.problems
                    ],
                },
            ),
            as_json=as_json,
        )
    if as_json:
        emit_json({"ok": True, "entries": report.entries, "head_seq": report.head_seq,
                   "head_hash": report.head_hash})  # fmt: skip
        return
    console.print(
        f"The egress ledger verifies: {report.entries} entries, head {report.head_seq} "
        f"({report.head_hash})",
        soft_wrap=True,
    )


@audit_app.command("export")
def export(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write here (default: stdout).", show_default=False),
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's entries.", show_default=False)
    ] = None,
    db: DbOption = None,
) -> None:
    """The ledger as JSON, with the chain's state, signed (HMAC-SHA256) with ATOMIC_AUDIT_KEY."""
    from atomic.audit import require_audit_key

    settings = _settings(db, False)
    try:
        key = require_audit_key(settings.audit_key)
    except AtomicError as exc:
        fail(exc)

    async def body() -> dict[str, Any]:
        return await _with_ledger(settings, lambda ledger: ledger.export(key, tenant=tenant))

    document = _run(body)
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8")
    chain = document["chain"]
    err_console.print(
        f"Wrote {len(document['entries'])} entries to {out}, signed with key "
        f"{document['signature']['key_id']}; chain {'verified' if chain['verified'] else 'BROKEN'} "
        f"at head {chain['head_seq']}."
    )
