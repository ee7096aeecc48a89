"""Atomic's settings: one object, read once from ``ATOMIC_*`` environment variables."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from atomic.errors import ConfigError

__all__ = ["AtomicSettings", "ConstraintBackend", "PromptStorage", "load_settings"]

StrList = Annotated[list[str], NoDecode]
"""A list setting: JSON (``["a", "b"]``) or comma-separated (``a,b``) in its variable."""


class PromptStorage(StrEnum):
    """How much of a rendered prompt the store keeps."""

    FULL = "full"
    HASH = "hash"


class ConstraintBackend(StrEnum):
    """Which engine turns an output schema into a decoding constraint on local models."""

    LLGUIDANCE = "llguidance"
    GBNF = "gbnf"


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "atomic"


class AtomicSettings(BaseSettings):
    """Every setting, with its ``ATOMIC_`` variable. Build once and pass it down.

    >>> AtomicSettings(home="/tmp/atomic-doc").resolved_database_url()
    'sqlite+aiosqlite:////tmp/atomic-doc/atomic.db'
    """

    model_config = SettingsConfigDict(env_prefix="ATOMIC_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Folder for the default database and assembled model files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; SQLite under `home` when unset. "
        "postgresql://… URLs use the psycopg driver.",
    )
    prompt_storage: PromptStorage = Field(
        default=PromptStorage.FULL,
        description="`full` stores rendered prompts; `hash` stores only their SHA-256.",
    )
    max_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts per model: the first try plus re-asks."
    )
    threads: int = Field(
        # One core stays free for the event loop, the store and the rest of the process:
        # llama.cpp's threads spin, and on a busy 2-core machine 2 threads ran 10× slower
        # than 1.
        default_factory=lambda: max(1, min((os.cpu_count() or 2) - 1, 4)),
        ge=1,
        description="CPU threads for local models.",
    )
    constraint_backend: ConstraintBackend = Field(
        default=ConstraintBackend.LLGUIDANCE,
        description="Constrained-decoding engine for local models.",
    )
    config: Path | None = Field(
        default=None,
        description="The atomic.toml read (ATOMIC_CONFIG, else ./atomic.toml, else in `home`).",
    )
    local_models: StrList = Field(
        default_factory=lambda: ["llamacpp:smollm2-135m-instruct", "llamacpp:gemma-3-270m"],
        description="Built-in local models to register.",
    )
    n_ctx: int = Field(default=4096, ge=256, description="Context window used for local models.")
    openai_base_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible endpoint to register (e.g. http://127.0.0.1:8000/v1).",
    )
    openai_models: StrList = Field(
        default_factory=list,
        description="Model names served at `openai_base_url`, registered as `openai:<name>`.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None, description="Key for `openai_base_url`; falls back to OPENAI_API_KEY."
    )
    request_timeout: float = Field(default=60.0, gt=0, description="HTTP timeout in seconds.")
    tenant: str = Field(default="default", description="Tenant that owns the rows written.")
    memory_size: int = Field(
        default=5000, ge=1, description="Verified examples kept per task and tenant."
    )
    memory_examples: int = Field(
        default=4,
        ge=0,
        le=32,
        description="Most similar verified examples put in each LLM prompt (0: none).",
    )
    learned_models: bool = Field(
        default=True,
        description="Register a classifier learned from feedback for every label task.",
    )
    classifier_min_examples: int = Field(
        default=20, ge=2, description="Verified examples before a task's classifier trains."
    )
    encoder: str = Field(
        default="auto",
        pattern=r"^(auto|local|none|openai:.+)$",
        description="Sentence encoder of learned classifiers and retrieval: `local` "
        "(all-MiniLM-L6-v2, the `encoder` extra), `openai:<model>` (at `encoder_url`), "
        "`none` (TF-IDF alone), or `auto` (`local` when installed, else `none`).",
    )
    encoder_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint serving /embeddings for `openai:<model>` "
        "(e.g. http://127.0.0.1:8080/v1); default: `openai_base_url`.",
    )
    encoder_cache: int = Field(
        default=10_000, ge=0, description="Embeddings kept in memory, by the text's sha256."
    )
    state_refresh_s: float = Field(
        default=2.0,
        ge=0,
        description="How stale what other processes learned (posteriors, budget spend) may "
        "get before this process reads it again from the store.",
    )
    run_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="A running run whose process has not renewed its lease for this long "
        "is marked abandoned.",
    )
    task_modules: StrList = Field(
        default_factory=list,
        description="Python modules whose `Task` objects are registered (e.g. `myapp.tasks`).",
    )
    builtin_tasks: bool = Field(
        default=True, description="Register the built-in demo tasks (sentiment, banking77-intent…)."
    )
    offline: bool = Field(
        default=False,
        description="Offline mode: only `local` models are registered, and any connection "
        "this process opens to anything but loopback or a Unix socket fails.",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="Secret that signs egress-ledger exports (HMAC-SHA256, `atomic audit export`).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments, then ATOMIC_* variables, then atomic.toml's [settings], then defaults.
        # Imported here: atomic.config reads model cards, whose package imports this module.
        from atomic.config import find_config_path, read_config_table

        path = find_config_path()
        values = {**read_config_table(path), "config": path} if path else {}
        return (
            init_settings,
            env_settings,
            InitSettingsSource(settings_cls, init_kwargs=values),
        )

    @field_validator("local_models", "openai_models", "task_modules", "workflows", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not a JSON list ({exc})") from None
        return [part.strip() for part in text.split(",") if part.strip()]

    service_host: str = Field(
        default="127.0.0.1",
        description="Address `atomic serve` binds; anything but loopback requires API keys.",
    )
    service_port: int = Field(default=8765, ge=1, le=65535, description="Port of `atomic serve`.")
    service_workers: int = Field(
        default=1, ge=1, le=64, description="Worker processes of `atomic serve`."
    )
    service_keys: bool | None = Field(
        default=None,
        description="Whether the service requires API keys; unset: when it binds anything but "
        "loopback, or once a key exists.",
    )

    workflows: StrList = Field(
        default_factory=list,
        description="Workflows the service starts and describes (`POST /v1/workflows/{name}`): "
        "`module:attribute`, or a module for every `@workflow` in it.",
    )
    workflow_runner: Literal["embedded", "temporal"] = Field(
        default="embedded",
        description="Where the service runs workflows: `embedded` (journaled in Atomic's "
        "database, in the service's one process) or `temporal` (a Temporal server).",
    )
    temporal_address: str = Field(
        default="localhost:7233", description="The Temporal server's host:port."
    )
    temporal_namespace: str = Field(default="default", description="The Temporal namespace.")
    temporal_task_queue: str = Field(
        default="atomic", description="The task queue Atomic's Temporal workers serve."
    )

    dashboard_assets: Path | None = Field(
        default=None,
        description="Folder holding the dashboard's chart library (`uplot/dist/…`), as "
        "`npm install --prefix <folder>/..` puts it; default: `.web/node_modules` next to "
        "the source checkout (`scripts/setup` installs it there).",
    )

    @field_validator("home")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL for the store. The default home folder is created here,
        on first use; a folder named in ``database_url`` must already exist."""
        if self.database_url is None:
            self.home.mkdir(parents=True, exist_ok=True)
        url = self.database_url or f"sqlite:///{self.home / 'atomic.db'}"
        for plain, driver in (
            ("sqlite://", "sqlite+aiosqlite://"),
            ("postgresql://", "postgresql+psycopg://"),
            ("postgres://", "postgresql+psycopg://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        if url.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            return url
        raise ConfigError(
            f"ATOMIC_DATABASE_URL {url!r} is not a SQLite or PostgreSQL URL",
            hint="use sqlite:///path/to/atomic.db or postgresql://user@host:port/db",
            context={"database_url": url},
        )

    def api_key(self) -> str:
        """The key for the OpenAI-compatible endpoint, or a ConfigError naming the variable."""
        if self.openai_api_key is not None:
            return self.openai_api_key.get_secret_value()
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            return key
        raise ConfigError(
            "no API key for the OpenAI-compatible endpoint",
            hint="set ATOMIC_OPENAI_API_KEY or OPENAI_API_KEY (any value for a local server)",
            context={"variable": "OPENAI_API_KEY"},
        )


_EXPECTED_FORM = {
    "list": 'a comma-separated list (a,b) or a JSON list (["a", "b"])',
    "bool": "true or false (1/0, yes/no also work)",
    "int": "a whole number",
    "float": "a number",
    "Path": "a folder path",
}


def load_settings(**overrides: Any) -> AtomicSettings:
    """Build the settings, or raise one ConfigError naming the variable, its value and the
    form expected (no pydantic traceback).

    ``overrides`` win over every source (the command line's ``--db``, say); ``None`` is ignored.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return AtomicSettings(**given)
    except ValidationError as exc:
        raise _settings_error(exc) from None


def _settings_error(exc: ValidationError) -> ConfigError:
    problems: list[str] = []
    context: dict[str, Any] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        variable = f"ATOMIC_{name.upper()}"
        field = AtomicSettings.model_fields.get(name)
        expected = _expected_form(name)
        if variable in os.environ:
            value = os.environ[variable]
            where, fix = f"{variable}={value!r}", f"fix or unset {variable}"
        else:
            from atomic.config import find_config_path, line_of

            path, value = find_config_path(), error.get("input")
            if path is None:  # given in code, e.g. AtomicSettings(max_attempts=...)
                where, fix = f"{name}={value!r}", f"give {name} a valid value"
            else:
                number = line_of(path.read_text(encoding="utf-8"), ("settings", name))
                at = f"{path}:{number}" if number else str(path)
                where = f"{at}: settings.{name} = {value!r}"
                fix = f"fix settings.{name} in {path} (or override it with {variable})"
        reason = str(error["msg"]).removeprefix("Value error, ")
        line = f"{where} is not valid: {reason}"
        if expected:
            line += f"; expected {expected}"
        if field is not None and field.description:
            line += f" ({field.description.rstrip('.')})"
        problems.append(line)
        context.setdefault("variable", variable)
        context.setdefault("value", value)
        context.setdefault("fix", fix)
    return ConfigError("; ".join(problems), hint=context.pop("fix"), context=context)


def _expected_form(name: str) -> str | None:
    field = AtomicSettings.model_fields.get(name)
    if field is None:
        return None
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return "one of " + ", ".join(m.value for m in annotation)
    text = getattr(annotation, "__name__", str(annotation))
    if "list" in str(annotation):
        text = "list"
    form = _EXPECTED_FORM.get(text)
    bounds = [
        f"{op} {getattr(m, attr)}"
        for m in field.metadata
        for attr, op in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
        if getattr(m, attr, None) is not None
    ]
    if form and bounds:
        form += " " + " and ".join(bounds)
    return form
