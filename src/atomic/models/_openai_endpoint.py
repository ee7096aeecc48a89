"""What Atomic learns about an OpenAI-compatible endpoint once and remembers across processes.

Two facts, kept in ``ATOMIC_HOME/endpoints.json`` by base URL:

- the ``response_format`` form the server honours (``json_schema`` or the older
  ``json_object``), learned from its first refusal, so a new process does not send a request
  the server rejects before every first call;
- each model's real context window, read from the server where it says: llama.cpp's server
  ``GET /props`` (``default_generation_settings.n_ctx``, or ``n_ctx``), vLLM's
  ``GET /v1/models`` (``max_model_len``).

The file is rewritten whole under a temporary name and renamed, so a reader never sees half a
file; two processes learning at once lose at most one of two identical facts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

__all__ = ["EndpointMemory", "read_context_window"]

ENDPOINTS_FILE = "endpoints.json"


class EndpointMemory:
    """Facts learned about endpoints, by base URL, persisted in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_home(cls, home: Path) -> EndpointMemory:
        return cls(home / ENDPOINTS_FILE)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # nothing learned yet, or a damaged file: learn again
        return data if isinstance(data, dict) else {}

    def get(self, base_url: str) -> dict[str, Any]:
        entry = self._load().get(base_url)
        return entry if isinstance(entry, dict) else {}

    def update(self, base_url: str, **facts: Any) -> None:
        data = self._load()
        entry = data.get(base_url)
        data[base_url] = {**(entry if isinstance(entry, dict) else {}), **facts}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
            partial.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError:
            pass  # remembering is an optimisation: a read-only home only costs a relearn


def _server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


async def read_context_window(
    client: httpx.AsyncClient,
    base_url: str,
    model: str,
    *,
    headers: dict[str, str],
    timeout_s: float,
) -> tuple[int, str] | None:
    """The context window the server says it serves ``model`` with, and where it said so;
    None when it does not say (OpenAI, llama-cpp-python's server, Ollama)."""
    root = _server_root(base_url)
    props = await _get_json(client, f"{root}/props", headers, timeout_s)
    if isinstance(props, dict):
        settings = props.get("default_generation_settings")
        for holder in (settings, props):
            if isinstance(holder, dict) and isinstance(holder.get("n_ctx"), int):
                return holder["n_ctx"], f"{root}/props n_ctx"
    models = await _get_json(client, f"{base_url.rstrip('/')}/models", headers, timeout_s)
    entries = models.get("data") if isinstance(models, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("id") == model:
            length = entry.get("max_model_len")
            if isinstance(length, int) and length > 0:
                return length, f"{base_url.rstrip('/')}/models max_model_len"
    return None


async def _get_json(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], timeout_s: float
) -> Any:
    try:
        response = await client.get(url, headers=headers, timeout=timeout_s)
    except httpx.HTTPError:
        return None
    if not response.is_success:
        return None
    try:
        return response.json()
    except ValueError:
        return None
