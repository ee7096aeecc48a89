"""What every route depends on: the app's ``Atomic`` and the caller (its tenant)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from atomic._client import Atomic

__all__ = ["Principal", "get_atomic"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant every read and write acts as, and the key that said so."""

    tenant: str
    admin: bool
    key_id: str | None = None
    budget_left_usd: float | None = None
    """What the key may still spend (None: no budget)."""


def get_atomic(request: Request) -> Atomic:
    atomic: Atomic = request.app.state.atomic
    return atomic
