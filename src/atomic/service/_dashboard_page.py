"""The dashboard's page at ``/dashboard``: plain HTML, one JS module and CSS from the package,
and the chart library (uPlot, installed from npm by ``scripts/setup``) from its install folder.

The page holds no data: it asks ``/v1/dashboard/…`` with the viewer's key."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from atomic.service._problems import ServiceError
from atomic.settings import AtomicSettings

__all__ = ["CHART_LIBRARY", "STATIC", "chart_library_folder", "router"]

STATIC = Path(__file__).parent / "static"
CHART_LIBRARY = "uplot@1.6.32"
"""The pinned chart library (``scripts/setup`` installs it with npm)."""
_VENDOR = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css"}

router = APIRouter(include_in_schema=False)


def chart_library_folder(settings: AtomicSettings) -> Path:
    """Where uPlot's ``dist`` folder is: the setting, or ``.web/node_modules`` of the checkout."""
    root = settings.dashboard_assets or Path(__file__).resolve().parents[3] / ".web/node_modules"
    return root / "uplot" / "dist"


@router.get("/dashboard")
async def page() -> FileResponse:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html")


@router.get("/dashboard/static/{name}")
async def static(name: str) -> FileResponse:
    types = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
    if name not in types:
        raise ServiceError(404, "not_found", f"no dashboard file {name!r}")
    return FileResponse(STATIC / name, media_type=types[name])


@router.get("/dashboard/vendor/{name}")
async def vendor(name: str, request: Request) -> Response:
    if name not in _VENDOR:
        raise ServiceError(404, "not_found", f"no chart library file {name!r}")
    path = chart_library_folder(request.app.state.atomic.settings) / name
    if not path.is_file():
        raise ServiceError(
            404,
            "dashboard.chart_library_missing",
            f"the dashboard's chart library is not installed (no {path})",
            hint=f"run scripts/setup, or `npm install --prefix .web {CHART_LIBRARY}` in the "
            "checkout, or point ATOMIC_DASHBOARD_ASSETS at a node_modules folder holding it",
            context={"path": str(path)},
        )
    return FileResponse(path, media_type=_VENDOR[name])
