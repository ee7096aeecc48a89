"""Who is calling: the ``Authorization: Bearer`` key's tenant, or the settings' without keys."""

from __future__ import annotations

from fastapi import Request

from atomic.service._deps import Principal

__all__ = ["principal"]


async def principal(request: Request) -> Principal:
    """The caller; with keys off (loopback only), the settings' tenant, as an admin."""
    keys = request.app.state.keys
    if keys is None:
        return Principal(tenant=request.app.state.atomic.settings.tenant, admin=True)
    principal_: Principal = await keys.authenticate(
        request.headers.get("authorization"), request.headers.get("x-atomic-tenant")
    )
    return principal_
