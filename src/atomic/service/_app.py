"""The FastAPI app: one ``Atomic`` per process, opened at startup, closed at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from atomic import __name__ as _package
from atomic._client import Atomic
from atomic.models import Model
from atomic.observability import Metrics
from atomic.service import (
    _api_router,
    _audit_router,
    _dashboard_page,
    _dashboard_router,
    _health,
    _lineage_router,
    _metrics_router,
    _openai_router,
    _workflows,
)
from atomic.service._idempotency import IdempotencyMiddleware
from atomic.service._openai_serving import CHAT_TASK
from atomic.service._problems import install_problem_handlers
from atomic.service._workflows import open_workflows, served_workflows
from atomic.settings import AtomicSettings
from atomic.tasks import Task
from atomic.workflows import with_their_tasks

__all__ = ["app_from_env", "create_app"]

AtomicFactory = Callable[[], Awaitable[Atomic]]


def create_app(
    settings: AtomicSettings | None = None,
    *,
    models: Iterable[Model] | None = None,
    tasks: Iterable[Task[Any, Any]] | None = None,
    require_keys: bool | None = None,
    seed: int | None = None,
) -> FastAPI:
    """Atomic's HTTP service: the REST API (runs, tasks, workflows) and the OpenAI-compatible
    endpoint under ``/v1``, Prometheus metrics at ``/metrics`` and the live dashboard at
    ``/dashboard``. The settings' ``workflows`` run on their ``workflow_runner``.

    ``models`` and ``tasks`` are as in :meth:`Atomic.open`. With ``require_keys`` (default:
    the settings' ``service_keys``), every
    ``/v1`` request needs an ``Authorization: Bearer`` key (``atomic keys create``) and acts as
    its tenant; without, every request acts as the settings' tenant (loopback use only).

    ```python
    import uvicorn
    uvicorn.run(create_app(), host="127.0.0.1", port=8765)
    ```
    """
    resolved = settings or AtomicSettings()
    model_list = list(models) if models is not None else None
    task_list = list(tasks or ())
    keys_required = resolved.service_keys if require_keys is None else require_keys

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workflows = served_workflows(resolved)
        atomic = await Atomic.open(
            with_their_tasks(resolved, workflows), models=model_list, tasks=task_list, seed=seed
        )
        if CHAT_TASK.name not in atomic.tasks:
            atomic.tasks.add(CHAT_TASK)
        app.state.atomic = atomic
        app.state.metrics = Metrics()
        atomic.exchange.events.subscribe(app.state.metrics)
        app.state.keys = None
        if keys_required:
            from atomic.service._keys import KeyStore

            app.state.keys = KeyStore(atomic.store.engine)
        try:
            async with open_workflows(atomic, workflows) as app.state.workflows:
                yield
        finally:
            await atomic.aclose()

    app = FastAPI(
        title="Atomic",
        summary="Typed AI microtasks on a model exchange, over HTTP.",
        version=_version(),
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(IdempotencyMiddleware)
    app.include_router(_health.router)
    app.include_router(_api_router.router)
    app.include_router(_openai_router.router)
    app.include_router(_workflows.router)
    app.include_router(_metrics_router.router)
    app.include_router(_audit_router.router)
    app.include_router(_lineage_router.router)
    app.include_router(_dashboard_router.router)
    app.include_router(_dashboard_page.router)
    return app


def app_from_env() -> FastAPI:
    """The app for ``atomic serve``'s workers: settings from ``ATOMIC_*`` variables."""
    return create_app()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_package)
    except PackageNotFoundError:
        return "0"
