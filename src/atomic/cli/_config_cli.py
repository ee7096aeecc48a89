"""``atomic config check`` and ``atomic init``: the atomic.toml a user writes, checked."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from atomic.config import CONFIG_NAME, AtomicConfig, load_config
from atomic.errors import AtomicError, ConfigError
from atomic.models import Model, ModelCard
from atomic.settings import AtomicSettings

from ._output import console, fail

__all__ = ["config_app", "init", "starter_text"]

config_app = typer.Typer(help="Check atomic.toml and see what it registers.", no_args_is_help=True)


def starter_text() -> str:
    """The commented starter atomic.toml that ``atomic init`` writes."""
    return resources.files("atomic.cli").joinpath("starter.toml").read_text(encoding="utf-8")


def init(
    path: Annotated[Path, typer.Argument(help="Where to write it.", show_default=True)] = Path(
        CONFIG_NAME
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
) -> None:
    """Validate atomic.toml and the ATOMIC_* variables; print what would be registered."""
    from atomic.cli._app import _settings
    from atomic.models._registry import default_registry

    settings = _settings(as_json=as_json)
    try:
        config = load_config(settings.config)
        models = list(default_registry(settings, config))
    except AtomicError as exc:
        fail(exc, as_json=as_json)
    report = _report(settings, config, models)
    if as_json:
        console.print_json(json.dumps(report))
        return
    for line in _view(report, [m.card for m in models]):
        console.print(line, soft_wrap=True)


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
        "builtin_tasks": settings.builtin_tasks,
        "models": entries,
    }


def _view(report: dict[str, Any], cards: list[ModelCard]) -> list[Text]:
    """Plain lines, never folded: paths, URLs and ids stay whole (a terminal wraps them)."""
    lines = [
        _pair("config", report["config"] or f"none ({CONFIG_NAME} not found; defaults used)"),
        _pair("database", report["database_url"]),
        _pair("tasks", _tasks_line(report)),
        Text(f"\n{len(cards)} models would be registered:"),
    ]
    for entry in report["models"]:
        lines += _model_lines(entry)
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
    return lines
