"""``atomic.toml``: the file that declares models, endpoints, prices, tasks and settings.

Found at ``$ATOMIC_CONFIG``, else ``./atomic.toml``, else ``$ATOMIC_HOME/atomic.toml``; read with
the standard library's :mod:`tomllib` into the pydantic models below. ``ATOMIC_*`` variables
override its ``[settings]`` (see :class:`atomic.settings.AtomicSettings`). Keys never go in the
file: a model names the *variable* that holds its key (``api_key_env``).

```toml
[settings]
max_attempts = 3

[tasks]
modules = ["myapp.tasks"]
builtin = true

[workflows]                      # what `atomic serve` starts at POST /v1/workflows/{name}
definitions = ["myapp.flows:triage"]
runner = "embedded"              # or "temporal", with temporal_address = "host:7233"

[[models]]
id = "llamacpp-server:smollm2"
base_url = "http://127.0.0.1:8080/v1"
model = "smollm2"
price = { input_per_mtok = 0.1, output_per_mtok = 0.2 }
context_window = 2048
residency = "on_prem"

[[local]]
id = "llamacpp:my-model"
path = "~/models/my-model.Q4_K_M.gguf"
```

Every error names the file, the key (and its line when it can be found), what is wrong and what
would be right.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from atomic.errors import ConfigError
from atomic.models._card import OutputStrategy, Residency, parse_model_id

__all__ = [
    "AtomicConfig",
    "EndpointConfig",
    "LocalModelConfig",
    "PriceConfig",
    "RequestDefaults",
    "TaskPolicyConfig",
    "TasksConfig",
    "find_config_path",
    "line_of",
    "load_config",
    "read_config_table",
]

CONFIG_NAME = "atomic.toml"

_FORBIDDEN_SECRETS = frozenset({"api_key", "key", "token", "secret", "password"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceConfig(_Strict):
    """USD per million input and output tokens, and per call."""

    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)
    per_call: float = Field(default=0.0, ge=0)
    source: str | None = None


class RequestDefaults(_Strict):
    """Sampling options sent with every request to the model; unset ones are not sent."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    seed: int | None = None
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)


def _check_id(value: str | None) -> str | None:
    if value is not None:
        parse_model_id(value)
    return value


class EndpointConfig(_Strict):
    """One model served by an OpenAI-compatible endpoint (``[[models]]``)."""

    id: str | None = Field(default=None, description="`provider:name`; default provider:model.")
    provider: str = Field(default="openai", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    base_url: str
    model: str = Field(min_length=1, description="The model name the server knows.")
    api_key_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Variable with the key."
    )
    price: PriceConfig | None = None
    context_window: int | None = Field(default=None, ge=1)
    residency: Residency | None = None
    region: str | None = None
    strategies: list[OutputStrategy] | None = None
    tasks: list[str] | None = None
    request: RequestDefaults = Field(default_factory=RequestDefaults)
    timeout: float | None = Field(default=None, gt=0)
    latency_prior_ms: float | None = Field(default=None, ge=0)
    description: str = ""

    _id = field_validator("id")(_check_id)

    @property
    def model_id(self) -> str:
        return self.id or f"{self.provider}:{self.model}"


class LocalModelConfig(_Strict):
    """A GGUF file of your own, run in-process by llama.cpp (``[[local]]``)."""

    id: str = Field(description="`llamacpp:name`, say.")
    path: Path
    context_window: int | None = Field(default=None, ge=256)
    chat_format: str | None = None
    tasks: list[str] | None = None
    latency_prior_ms: float = Field(default=2000.0, ge=0)
    description: str = ""

    _id = field_validator("id")(_check_id)

    @field_validator("path")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


class TaskPolicyConfig(_Strict):
    """How the exchange treats one task's calls (``[tasks.policy.<task>]``): its objective,
    exploration, cascade and budget."""

    objective: Literal["utility", "min_cost", "max_quality"] = "utility"
    value_usd: float | None = Field(default=None, ge=0, description="utility: value of a hit.")
    latency_weight: float = Field(default=0.0, ge=0, description="utility: USD per second.")
    floor: float | None = Field(default=None, ge=0, le=1, description="min_cost: P(success).")
    max_cost_usd: float | None = Field(default=None, gt=0, description="max_quality: cap.")
    max_latency_ms: float | None = Field(default=None, gt=0, description="max_quality: cap.")
    exploration: float = Field(default=1.0, ge=0)
    contextual: bool = False
    max_cascade: int = Field(default=3, ge=1)
    budget_usd: float | None = Field(default=None, gt=0, description="Spend per window.")
    budget_window_s: float = Field(default=86_400.0, gt=0)

    @model_validator(mode="after")
    def _keys_fit_the_objective(self) -> TaskPolicyConfig:
        owners = {
            "value_usd": "utility",
            "latency_weight": "utility",
            "floor": "min_cost",
            "max_cost_usd": "max_quality",
            "max_latency_ms": "max_quality",
        }
        for key, owner in owners.items():
            if key in self.model_fields_set and owner != self.objective:
                raise ValueError(f"{key} applies to objective {owner!r}, not {self.objective!r}")
        return self

    def build(self) -> tuple[Any, Any]:
        """The exchange's ``TaskPolicy`` and ``Budget`` (None when no budget is set)."""
        from atomic.exchange import Budget, MaxQuality, MinCost, TaskPolicy, Utility

        objective: Any
        if self.objective == "min_cost":
            objective = MinCost() if self.floor is None else MinCost(floor=self.floor)
        elif self.objective == "max_quality":
            objective = MaxQuality(
                max_cost_usd=self.max_cost_usd or float("inf"),
                max_latency_ms=self.max_latency_ms or float("inf"),
            )
        else:
            objective = Utility(value_usd=self.value_usd, latency_weight=self.latency_weight)
        policy = TaskPolicy(
            objective=objective,
            exploration=self.exploration,
            contextual=self.contextual,
            max_cascade=self.max_cascade,
        )
        budget = (
            None
            if self.budget_usd is None
            else Budget(amount_usd=self.budget_usd, window_s=self.budget_window_s)
        )
        return policy, budget


class TasksConfig(_Strict):
    """Which tasks are registered (modules of your own, the built-in ones or not), and how the
    exchange treats each one's calls."""

    modules: list[str] | None = None
    builtin: bool | None = None
    policy: dict[str, TaskPolicyConfig] = Field(default_factory=dict)


class WorkflowsConfig(_Strict):
    """The workflows ``atomic serve`` starts and describes, and the runner it uses."""

    definitions: list[str] | None = None
    runner: Literal["embedded", "temporal"] | None = None
    temporal_address: str | None = None
    namespace: str | None = None
    task_queue: str | None = None


class AtomicConfig(_Strict):
    """The whole file. ``settings`` is checked by :class:`atomic.settings.AtomicSettings`."""

    path: Path | None = Field(default=None, description="The file this was read from.")
    settings: dict[str, Any] = Field(default_factory=dict)
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    workflows: WorkflowsConfig = Field(default_factory=WorkflowsConfig)
    models: list[EndpointConfig] = Field(default_factory=list)
    local: list[LocalModelConfig] = Field(default_factory=list)

    def settings_values(self) -> dict[str, Any]:
        """The ``[settings]`` table, with ``[tasks]`` and ``[workflows]`` mapped to their
        settings."""
        values = dict(self.settings)
        if self.tasks.modules is not None:
            values["task_modules"] = self.tasks.modules
        if self.tasks.builtin is not None:
            values["builtin_tasks"] = self.tasks.builtin
        named = {
            "workflows": self.workflows.definitions,
            "workflow_runner": self.workflows.runner,
            "temporal_address": self.workflows.temporal_address,
            "temporal_namespace": self.workflows.namespace,
            "temporal_task_queue": self.workflows.task_queue,
        }
        values.update({k: v for k, v in named.items() if v is not None})
        return values


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "atomic"


def find_config_path() -> Path | None:
    """``$ATOMIC_CONFIG``, else ``./atomic.toml``, else ``$ATOMIC_HOME/atomic.toml``, else None."""
    named = os.environ.get("ATOMIC_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"ATOMIC_CONFIG names {str(path)!r}, which is not a file",
                hint="point ATOMIC_CONFIG at an atomic.toml, or unset it "
                "(`atomic init` writes a starter file)",
                context={"variable": "ATOMIC_CONFIG", "value": named},
            )
        return path
    here = Path.cwd() / CONFIG_NAME
    if here.is_file():
        return here
    home = os.environ.get("ATOMIC_HOME")
    in_home = (Path(home).expanduser() if home else _default_home()) / CONFIG_NAME
    return in_home if in_home.is_file() else None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}",
            hint="check the path and its permissions",
            context={"file": str(path)},
        ) from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            hint="fix the syntax at that line (strings need quotes, tables look like "
            "[settings] or [[models]]); `atomic init --print` shows a valid file",
            context={"file": str(path)},
        ) from exc


def read_config_table(path: Path | None) -> dict[str, Any]:
    """The settings the file at ``path`` sets (for the settings' lowest-priority source)."""
    if path is None:
        return {}
    config = load_config(path)
    from atomic.settings import AtomicSettings  # not at the top: settings imports this lazily

    known = set(AtomicSettings.model_fields)
    for key in config.settings:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            loc: tuple[str | int, ...] = ("settings", key)
            text = path.read_text(encoding="utf-8")
            raise ConfigError(
                f"{_where(path, text, loc)}: settings.{key} is not a setting Atomic knows",
                hint=(f"did you mean {close[0]}? " if close else "")
                + "`atomic init --print` lists every setting",
                context={"file": str(path), "key": f"settings.{key}"},
            )
    return config.settings_values()


def load_config(path: Path | None = None) -> AtomicConfig:
    """Read and check ``path`` (default: :func:`find_config_path`); an empty config if none."""
    path = path if path is not None else find_config_path()
    if path is None:
        return AtomicConfig()
    data, text = _read_toml(path)
    _refuse_secrets(data, path, text)
    try:
        return AtomicConfig.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise _config_error(exc, path, text) from None


def _refuse_secrets(data: dict[str, Any], path: Path, text: str) -> None:
    for table in ("models", "local"):
        entries = data.get(table)
        if not isinstance(entries, list):
            continue
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            for key in _FORBIDDEN_SECRETS & set(entry):
                loc: tuple[str | int, ...] = (table, index, key)
                raise ConfigError(
                    f"{_where(path, text, loc)}: {_dotted(loc)} puts a secret in the file",
                    hint="keys never go in atomic.toml: put the key in an environment variable "
                    'and name it, e.g. api_key_env = "OPENAI_API_KEY"',
                    context={"file": str(path), "key": _dotted(loc)},
                )


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(path: Path, text: str, loc: tuple[str | int, ...]) -> str:
    line = line_of(text, loc)
    return f"{path}:{line}" if line else str(path)


def line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The line that sets ``loc`` (``("models", 1, "price")``, ``("tasks", "policy", "x",
    "floor")``), else the line of the closest table header that holds it, else None."""
    names = [p for p in loc if isinstance(p, str)]
    index = next((p for p in loc if isinstance(p, int)), None)
    lines = text.splitlines()
    for cut in range(len(names), 0, -1):
        dotted = r"\s*\.\s*".join(
            rf"(?:{re.escape(n)}|\"{re.escape(n)}\"|'{re.escape(n)}')" for n in names[:cut]
        )
        header = re.compile(rf"^\s*\[\[?\s*{dotted}\s*\]\]?\s*(#.*)?$")
        starts = [number for number, line in enumerate(lines, 1) if header.match(line)]
        if not starts:
            continue
        start = starts[index] if index is not None and index < len(starts) else starts[0]
        key = names[cut] if cut < len(names) else None
        if key is None:
            return start
        setting = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=")
        for number in range(start, len(lines)):
            if lines[number].lstrip().startswith("["):
                break
            if setting.match(lines[number]):
                return number + 1
        return start
    return None


_EXPECTED = {
    "residency": "one of local, on_prem, cloud",
    "strategies": "a list of grammar, json_schema, prompt",
    "base_url": 'an http(s) URL such as "http://127.0.0.1:8080/v1"',
    "api_key_env": 'the NAME of an environment variable, e.g. "OPENAI_API_KEY"',
    "path": "the path of a .gguf file",
}


def _config_error(exc: ValidationError, path: Path, text: str) -> ConfigError:
    problems = []
    first: tuple[str | int, ...] = ()
    for error in exc.errors():
        loc = tuple(error["loc"])
        first = first or loc
        msg = error["msg"]
        if error["type"] == "extra_forbidden":
            msg = "is not a key Atomic knows (a typo?)"
        elif error["type"] == "missing":
            msg = "is required"
        expected = _EXPECTED.get(str(loc[-1])) if loc else None
        detail = f"{_where(path, text, loc)}: {_dotted(loc)} {msg}"
        if "input" in error and error["type"] != "missing":
            detail += f" (got {error['input']!r})"
        if expected:
            detail += f"; expected {expected}"
        problems.append(detail)
    return ConfigError(
        problems[0]
        if len(problems) == 1
        else f"{path} has {len(problems)} problems:\n" + "\n".join(f"  • {p}" for p in problems),
        hint="fix the key named; `atomic init --print` shows every key with a comment",
        context={"file": str(path), "key": _dotted(first), "errors": problems},
    )
