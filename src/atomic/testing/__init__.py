"""Helpers for testing code that uses Atomic: a throwaway PostgreSQL server, and the fakes.

The fake models live in :mod:`atomic.models` (``FunctionModel``, ``ScriptedModel``).
"""

from atomic.testing._postgres import create_database, drop_database, postgres_cluster

__all__ = ["create_database", "drop_database", "postgres_cluster"]
