"""Atomic as a service: a REST API under ``/v1``, an OpenAI-compatible endpoint, API keys.

Layout (after vLLM's ``entrypoints/openai``): ``_protocol``, ``_api_router`` and ``_serving``
are the REST API's bodies, routes and work; ``_openai_protocol``, ``_openai_router`` and
``_openai_serving`` the same for ``/v1/chat/completions`` (``_schema_type`` turns a
``response_format`` schema into an output type). ``_problems`` turns errors into RFC 9457
documents; ``_idempotency`` makes every POST safe to repeat; ``_keys``, ``_auth`` and ``_budget``
are API keys, the caller's tenant, and per-key budgets; ``_health`` answers ``/healthz`` and
``/readyz``; ``_server`` starts uvicorn for ``atomic serve``.
"""

from atomic.service._app import app_from_env, create_app
from atomic.service._problems import Problem

__all__ = ["Problem", "app_from_env", "create_app"]
