"""``atomic config check`` and ``atomic init``: the atomic.toml a user writes, checked."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

if TYPE_CHECKING:
    from atomic.config import AtomicConfig
    from atomic.models import Model, ModelCard
    from atomic.settings import AtomicSettings

from atomic.errors import AtomicError, ConfigError

from ._output import EXIT_FAILURE, console, emit_json, fail

__all__ = ["config_app", "init", "starter_text"]

config_app = typer.Typer(help="Check atomic.toml and see what it registers.", no_args_is_help=True)


def starter_text() -> str:
    """The commented starter atomic.toml that ``atomic init`` writes."""
    return resources.files("atomic.cli").joinpath("starter.toml").read_text(encoding="utf-8")


def init(
    path: Annotated[Path, typer.Argument(help="Where to write it.", show_default=True)] = Path(
        "atomic.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    show: Annotated[
        bool, typer.Option("--print", help="Print the starter file instead of writing it.")
    ] = False,
) -> None:
    """Write a commented starter atomic.toml (every key, with what it does)."""
    text = starter_text()
    if show:
        typer.echo(text, nl=False)
        return
    if path.exists() and not force:
        fail(
            ConfigError(
                f"{path} already exists",
                hint="pass --force to overwrite it, or --print to see the starter file",
                context={"file": str(path)},
            )
        )
    path.write_text(text, encoding="utf-8")
    console.print(f"Wrote {path}. Edit it, then run `atomic config check`.")


@config_app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="Also ask each endpoint whether it serves its model, and for its context "
            "window (llama.cpp's /props, vLLM's /v1/models); exit 1 if one does not answer.",
        ),
    ] = False,
) -> None:
    """Validate atomic.toml and the ATOMIC_* variables; print what would be registered."""
    from atomic.cli._app import _settings
    from atomic.models._registry import default_registry

    settings = _settings(as_json=as_json)
    try:
        from atomic.config import load_config

        config = load_config(settings.config)
        models = list(default_registry(settings, config))
        _check_tasks(settings)
    except AtomicError as exc:
        fail(exc, as_json=as_json)
    probes = asyncio.run(_probe_all(models)) if probe else {}
    report = _report(settings, config, models)
    for entry in report["models"]:
        if entry["id"] in probes:
            entry["probe"] = probes[entry["id"]]
    if as_json:
        emit_json(report)
    else:
        for line in _view(report, [m.card for m in models]):
            console.print(line, soft_wrap=True)
    if any(not p["ok"] for p in probes.values()):
        raise typer.Exit(code=EXIT_FAILURE)


def _check_tasks(settings: AtomicSettings) -> None:
    """Import the task modules and check that every task policy names a known task."""
    from atomic._client import _declared_policies
    from atomic.tasks import TaskCatalog
    from atomic.tasks._builtin import BUILTIN_TASKS

    catalog = TaskCatalog(BUILTIN_TASKS if settings.builtin_tasks else ())
    for module in settings.task_modules:
        catalog.add_module(module)
    _declared_policies(settings, catalog)


async def _probe_all(models: list[Model]) -> dict[str, dict[str, Any]]:
    from atomic.models import OpenAICompatModel

    found: dict[str, dict[str, Any]] = {}
    try:
        for model in models:
            if isinstance(model, OpenAICompatModel):
                found[model.id] = await _probe(model)
    finally:
        for model in models:
            await model.aclose()
    return found


async def _probe(model: Any) -> dict[str, Any]:
    try:
        served = await model.list_models()
    except AtomicError as exc:
        return {"ok": False, "problem": f"{exc.code}: {exc.message}"}
    if model.model not in served:
        return {
            "ok": False,
            "problem": f"the server does not list {model.model!r}; it serves: "
            + (", ".join(served) or "nothing"),
        }
    declared = model.card.context_window
    window = await model.refresh_context_window()
    said = f"the server says {window:,} tokens" if window else "the server does not say"
    note = (
        f" (atomic.toml says {declared:,}: the smaller is safer)"
        if window and window != declared
        else ""
    )
    return {"ok": True, "context_window": window, "problem": None, "window": said + note}


def _report(settings: AtomicSettings, config: AtomicConfig, models: list[Model]) -> dict[str, Any]:
    endpoints = {e.model_id: e for e in config.models}
    entries = []
    for model in models:
        card = model.card
        entry: dict[str, Any] = {"id": card.id, **card.model_dump(mode="json", exclude={"id"})}
        base_url = getattr(model, "base_url", None)
        if base_url:
            entry["base_url"] = base_url
            declared = endpoints.get(card.id)
            entry["api_key_env"] = declared.api_key_env if declared else None
            sends = bool(getattr(model, "sends_key", False))
            entry["key_from"] = (
                entry["api_key_env"]
                or ("ATOMIC_OPENAI_API_KEY or OPENAI_API_KEY" if sends else None)
                or "none: a loopback server needs no key"
            )
        entries.append(entry)
    return {
        "config": str(settings.config) if settings.config else None,
        "database_url": settings.resolved_database_url(),
        "home": str(settings.home),
        "task_modules": settings.task_modules,
        "task_policies": {
            name: declared.model_dump(exclude_unset=True)
            for name, declared in config.tasks.policy.items()
        },
        "builtin_tasks": settings.builtin_tasks,
        "models": entries,
    }


def _view(report: dict[str, Any], cards: list[ModelCard]) -> list[Text]:
    """Plain lines, never folded: paths, URLs and ids stay whole (a terminal wraps them)."""
    lines = [
        _pair("config", report["config"] or "none (atomic.toml not found; defaults used)"),
        _pair("database", report["database_url"]),
        _pair("tasks", _tasks_line(report)),
        *[
            _pair("policy", f"{name}: " + ", ".join(f"{k} {v}" for k, v in policy.items()))
            for name, policy in report["task_policies"].items()
        ],
        Text(f"\n{len(cards)} models would be registered:"),
    ]
    for entry in report["models"]:
        lines += _model_lines(entry)
    failed = [e["id"] for e in report["models"] if not e.get("probe", {"ok": True})["ok"]]
    if not cards:
        lines.append(
            Text(
                "Valid, but no model would be registered: every call would fail. Declare "
                "[[models]] or [[local]], or keep settings.local_models.",
                style="yellow",
            )
        )
    elif failed:
        lines.append(Text(f"Valid, but {', '.join(failed)} did not answer as expected.", "red"))
    else:
        lines.append(Text("OK: the configuration is valid.", style="green"))
    return lines


def _pair(key: str, value: str, indent: str = "") -> Text:
    return Text.assemble((f"{indent}{key:<9}", "bold" if not indent else "dim"), value)


def _tasks_line(report: dict[str, Any]) -> str:
    builtin = "built-in tasks on" if report["builtin_tasks"] else "built-in tasks off"
    modules = ", ".join(report["task_modules"]) or "no task modules"
    return f"{builtin}; {modules}"


def _model_lines(entry: dict[str, Any]) -> list[Text]:
    price = entry["price"]
    cost = (
        f"${price['per_call']:g}/call"
        if price["per_call"] and not (price["input_per_mtok"] or price["output_per_mtok"])
        else f"${price['input_per_mtok']:g} in, ${price['output_per_mtok']:g} out per M tokens"
        + (f" + ${price['per_call']:g}/call" if price["per_call"] else "")
    )
    residency = entry["residency"] + (f" ({entry['region']})" if entry.get("region") else "")
    strategies = ", ".join(sorted(entry["strategies"]))
    lines = [
        Text(entry["id"], style="bold cyan"),
        _pair("where", entry.get("base_url") or "in this process (llama.cpp)", "  "),
        _pair("card", f"{residency}; {entry['context_window']:,} tokens; {strategies}", "  "),
        _pair("price", cost, "  "),
    ]
    if price.get("source"):
        lines.append(_pair("source", price["source"], "  "))
    if "key_from" in entry:
        key = entry["key_from"]
        lines.append(_pair("key", key, "  "))
    if entry.get("tasks") is not None:
        lines.append(_pair("tasks", ", ".join(entry["tasks"]), "  "))
    probe = entry.get("probe")
    if probe is not None:
        status = (
            Text(f"serves it; context window: {probe['window']}", style="green")
            if probe["ok"]
            else Text(probe["problem"], style="red")
        )
        lines.append(Text.assemble(("  probe    ", "dim"), status))
    return lines
