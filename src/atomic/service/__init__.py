"""Atomic as a service: a REST API under ``/v1``, an OpenAI-compatible endpoint, API keys.

Layout (after vLLM's ``entrypoints/openai``): ``_protocol`` holds the bodies, ``_api_router``
the routes, ``_serving`` the work; ``_problems`` turns errors into RFC 9457 documents;
``_idempotency`` makes every POST safe to repeat; ``_health`` answers ``/healthz`` and
``/readyz``.
"""

from atomic.service._app import app_from_env, create_app
from atomic.service._problems import Problem

__all__ = ["Problem", "app_from_env", "create_app"]
