"""``Atomic``: the settings, models, tasks, store and exchange of one process, put together."""

from __future__ import annotations

import difflib
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from atomic._net import check_offline_address, enforce_offline
from atomic.adaptation import Adaptation, AdaptationStatus, FeedbackKind, ModelEstimate
from atomic.audit import EgressLedger, egress_scope, note_run
from atomic.config import load_config
from atomic.errors import ConfigError
from atomic.exchange import AuctionRecord, Budget, Exchange, Objective, Result
from atomic.exchange._whatif import WhatIf, what_if
from atomic.models import Model, Residency
from atomic.models._registry import ModelRegistry, default_registry
from atomic.settings import AtomicSettings, load_settings
from atomic.storage import FeedbackRecord, RunRecord, Store
from atomic.tasks import Task, TaskCatalog
from atomic.tasks._builtin import BUILTIN_TASKS

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from atomic.lineage import Influence, Lineage

__all__ = ["Atomic"]

Out = TypeVar("Out")
log = logging.getLogger("atomic")


class Atomic:
    """The entry point of the library.

    ```python
    async with await Atomic.open() as atomic:
        result = await atomic.run("sentiment", {"text": "Thanks, it worked!"})
        print(result.output, result.model_id, result.cost_usd)
    ```
    """

    def __init__(
        self,
        settings: AtomicSettings,
        registry: ModelRegistry,
        tasks: TaskCatalog,
        store: Store,
        *,
        seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.tasks = tasks
        self.store = store
        self.adaptation = Adaptation(store, settings, tasks)
        for learned in self.adaptation.learned_models():
            if learned.id not in registry:
                registry.add(learned)
        self.exchange = Exchange(registry, store, settings, adaptation=self.adaptation, seed=seed)
        self.egress = EgressLedger(store.engine, tenant=settings.tenant)
        """Every request of task data to a non-local model, recorded before it is sent."""
        _attach_ledger(registry, self.egress)
        # After the store's own subscriber: the run is written before its id is noted.
        self.exchange.events.subscribe(note_run, durable=True)
        self._tracing = _observe(self.exchange)
        self._release_offline: Callable[[], None] | None = None

    @classmethod
    async def open(
        cls,
        settings: AtomicSettings | None = None,
        *,
        models: Iterable[Model] | None = None,
        tasks: Iterable[Task[Any, Any]] | None = None,
        seed: int | None = None,
        restore: bool = True,
    ) -> Atomic:
        """Open the store (migrating it) and register models and tasks.

        ``models`` replaces the models the settings would register; ``tasks`` is added to the
        built-in tasks and those of ``ATOMIC_TASK_MODULES``; ``seed`` makes exploration
        repeatable. The learner's persisted state and every task's memory are restored, and
        each label task gets a ``learned:<task>`` model (unless ``ATOMIC_LEARNED_MODELS=0``).
        ``restore=False`` skips restoring them: for reading the store (listing runs, say),
        which needs neither.

        With ``settings.offline`` (``ATOMIC_OFFLINE=1``), only ``local`` models are registered
        and, until :meth:`aclose`, the process may open no connection but to loopback.
        """
        settings = settings or load_settings()
        registry = ModelRegistry(models) if models is not None else default_registry(settings)
        if settings.offline:
            registry = _local_only(registry)
        catalog = TaskCatalog(BUILTIN_TASKS if settings.builtin_tasks else ())
        for module in settings.task_modules:
            catalog.add_module(module)
        for task in tasks or ():
            catalog.add(task)
        policies = _declared_policies(settings, catalog)
        release_offline = _go_offline(settings) if settings.offline else None
        try:
            store = await Store.open(settings.resolved_database_url())
        except BaseException:
            if release_offline is not None:
                release_offline()
            raise
        atomic = cls(settings, registry, catalog, store, seed=seed)
        atomic._release_offline = release_offline
        for name, (policy, budget) in policies.items():
            atomic.exchange.configure(name, policy, budget=budget)
        if restore:
            await atomic.exchange.restore()
            await atomic.adaptation.restore()
        return atomic

    async def run(
        self,
        task: Task[Any, Out] | str,
        task_input: BaseModel | Mapping[str, Any] | str,
        *,
        model: str | None = None,
        models: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        objective: Objective | None = None,
        max_cost_usd: float | None = None,
        deadline_s: float | None = None,
        tenant: str | None = None,
    ) -> Result[Out]:
        """Run a task (by object or name) on an input through the exchange.

        See :meth:`atomic.exchange.Exchange.run` for the arguments.
        """
        resolved = self.tasks.get(task) if isinstance(task, str) else task
        with egress_scope(resolved, tenant or self.settings.tenant):
            return await self.exchange.run(
                resolved,
                task_input,
                model=model,
                models=models,
                exclude=exclude,
                objective=objective,
                max_cost_usd=max_cost_usd,
                deadline_s=deadline_s,
                tenant=tenant,
            )

    async def record_feedback(
        self,
        run_id: str,
        kind: FeedbackKind | str,
        *,
        output: Any = None,
        score: float | None = None,
        source: str = "human",
        comment: str | None = None,
        id: str | None = None,
        tenant: str | None = None,
    ) -> FeedbackRecord:
        """Say how a run went, now or much later; persisted before it returns.

        ``kind`` is ``correct``, ``incorrect``, ``corrected`` (with ``output``, validated
        against the task's output type) or ``score`` (with ``score`` in [0, 1]); ``source``
        is ``human``, ``ground_truth``, ``judge`` or ``check``. Feedback with the same ``id``
        (by default, the same verdict on the same run) counts once; newer feedback on a run
        supersedes the older; ``tenant`` (default: the settings') owns the run. It updates
        the exchange's posteriors and the task's memory
        (confirmed and corrected outputs become examples for later prompts and the learned
        classifier).

        ```python
        await atomic.record_feedback(result.run_id, "corrected", output="card_arrival")
        ```
        """
        options: dict[str, Any] = {"score": score, "source": source, "comment": comment}
        if kind == FeedbackKind.CORRECTED or output is not None:
            options["output"] = output
        tenant = tenant or self.settings.tenant
        run = await self.store.get_run(run_id, tenant=tenant)
        task = self.tasks.get(run.task_name) if run.task_name in self.tasks else None
        return await self.exchange.record_feedback(
            run_id, kind, task=task, id=id, tenant=tenant, **options
        )

    async def record_outcome(
        self,
        run_id: str,
        reward: float | bool,
        *,
        source: str = "human",
        tenant: str | None = None,
    ) -> FeedbackRecord:
        """Report, now or much later, how right a run's output was, as a reward in [0, 1]
        (feedback of kind ``score``; see :meth:`record_feedback`)."""
        value = float(reward)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"reward must be in [0, 1], got {reward!r}")
        return await self.record_feedback(
            run_id, FeedbackKind.SCORE, score=value, source=source, tenant=tenant
        )

    async def remember(
        self,
        task: Task[Any, Any] | str,
        examples: Iterable[tuple[Mapping[str, Any] | BaseModel, Any]],
        *,
        source: str = "ground_truth",
        tenant: str | None = None,
    ) -> int:
        """Seed a task's memory with labelled (input, output) pairs; returns how many were kept."""
        resolved = self.tasks.get(task) if isinstance(task, str) else task
        pairs = [
            (i.model_dump(mode="json") if isinstance(i, BaseModel) else i, o) for i, o in examples
        ]
        return await self.adaptation.remember(
            resolved, pairs, source=source, tenant=tenant or self.settings.tenant
        )

    async def task_status(self, task: str, *, tenant: str | None = None) -> AdaptationStatus:
        """What a task has learned for ``tenant`` (default: the settings'): memory, classifier,
        win shares, and what each model's bid rests on (``atomic task show``)."""
        self.tasks.get(task)
        tenant = tenant or self.settings.tenant
        status = await self.adaptation.status(task, tenant=tenant)
        learner = self.exchange.learner
        for model in self.registry:
            if model.card.tasks is not None and task not in model.card.tasks:
                continue
            estimate = learner.estimate((tenant, task, model.id), model.card, None)
            status.estimates.append(ModelEstimate(model.id, estimate.mean, estimate.source))
        return status

    async def explain(self, run_id: str, *, tenant: str | None = None) -> AuctionRecord:
        """The auction behind a run of ``tenant`` (default: the settings'): every bid,
        exclusion and reason."""
        tenant = tenant or self.settings.tenant
        await self.store.get_run(run_id, tenant=tenant)
        data = await self.store.get_auction(run_id, tenant=tenant)
        return AuctionRecord.model_validate(data)

    async def lineage(self, run_id: str, *, tenant: str | None = None, depth: int = 3) -> Lineage:
        """The provenance of a run of ``tenant`` (default: the settings'): its auction, model,
        task version, the remembered examples in its prompt, the runs and feedback that made
        them, and theirs, ``depth`` hops back (``atomic lineage``; :func:`atomic.lineage.to_prov`
        exports it as PROV-JSON)."""
        from atomic.lineage import build_lineage

        cards = {m.id: m.card.model_dump(mode="json") for m in self.registry}
        return await build_lineage(
            self.store, run_id, tenant=tenant or self.settings.tenant, max_depth=depth, cards=cards
        )

    async def influence(
        self, example_id: str, *, tenant: str | None = None, depth: int = 5
    ) -> Influence:
        """Every run of ``tenant`` a remembered example influenced, ``depth`` hops on: the runs
        that used it, then those that used examples learned from them (``atomic lineage
        --example``: the blast radius of a bad correction)."""
        from atomic.lineage import build_influence

        return await build_influence(
            self.store, example_id, tenant=tenant or self.settings.tenant, max_depth=depth
        )

    async def what_if(
        self,
        task: str,
        objective: Objective,
        *,
        since: datetime | None = None,
        tenant: str | None = None,
        budget: Budget | None = None,
    ) -> WhatIf:
        """The correctness and cost ``task``'s logged traffic would have had under
        ``objective`` (and ``budget``, paced as the exchange paces one), estimated from the
        logged propensities (``atomic whatif``)."""
        self.tasks.get(task)
        log = await self.store.auction_log(
            tenant=tenant or self.settings.tenant, task_name=task, since=since
        )
        return what_if(objective, log, budget=budget)

    async def get_run(self, run_id: str, *, tenant: str | None = None) -> RunRecord:
        """A run of ``tenant`` (default: the settings') with its attempts; another tenant's run
        is not found."""
        return await self.store.get_run(run_id, tenant=tenant or self.settings.tenant)

    async def list_runs(
        self,
        *,
        limit: int = 20,
        task: str | None = None,
        model: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        before: str | None = None,
        tenant: str | None = None,
    ) -> list[RunRecord]:
        """Recent runs of ``tenant`` (default: the settings'), newest first, filtered;
        ``before`` is the last run id of the previous page."""
        return await self.store.list_runs(
            tenant=tenant or self.settings.tenant,
            limit=limit,
            task_name=task,
            model_id=model,
            status=status,
            since=since,
            before=before,
        )

    async def aclose(self) -> None:
        if self._tracing is not None:
            self._tracing.force_flush()
        await self.registry.aclose()
        await self.store.close()
        if self._release_offline is not None:
            self._release_offline()
            self._release_offline = None

    async def __aenter__(self) -> Atomic:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _observe(exchange: Exchange) -> TracerProvider | None:
    """Subscribe the structured run log, and traces when the OTEL_* variables ask for them."""
    from atomic.observability import RunLog, Traces, configure_tracing

    provider = configure_tracing()
    traces = Traces(provider) if provider is not None else None
    # The log first: it reads the run's trace id before the traces subscriber ends the span.
    exchange.events.subscribe(RunLog(traces.trace_id if traces else None))
    if traces is not None:
        exchange.events.subscribe(traces)
    return provider


def _attach_ledger(registry: ModelRegistry, ledger: EgressLedger) -> None:
    """Give every OpenAI-compatible model the ledger (it records only non-local egress)."""
    # By module: a process that built no such model has not imported httpx, nor should it.
    openai = sys.modules.get("atomic.models._openai")
    if openai is None:
        return
    for model in registry:
        if isinstance(model, openai.OpenAICompatModel) and model.egress is None:
            model.egress = ledger


def _go_offline(settings: AtomicSettings) -> Callable[[], None]:
    """Refuse non-loopback connections from now on; the database must be on this machine
    too (libpq opens its sockets in C, where the guard cannot see them)."""
    from sqlalchemy.engine import make_url

    release = enforce_offline()
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() == "postgresql" and url.host:
        try:
            check_offline_address(url.host, url.port, what="the database at")
        except BaseException:
            release()
            raise
    return release


def _local_only(registry: ModelRegistry) -> ModelRegistry:
    """Offline, only ``local`` models may run: the others are not registered, each logged."""
    kept = ModelRegistry()
    for model in registry:
        if model.card.residency is Residency.LOCAL:
            kept.add(model)
        else:
            log.warning(
                "offline mode (ATOMIC_OFFLINE=1): model %s is %s, not local, and is not "
                "registered; unset ATOMIC_OFFLINE to use it",
                model.id,
                model.card.residency.value,
            )
    return kept


def _declared_policies(settings: AtomicSettings, catalog: TaskCatalog) -> dict[str, Any]:
    """atomic.toml's ``[tasks.policy.<task>]`` tables, as the exchange's policy and budget."""
    config = load_config(settings.config)
    policies = {}
    for name, declared in config.tasks.policy.items():
        if name not in catalog:
            close = difflib.get_close_matches(name, [t.name for t in catalog], n=1)
            raise ConfigError(
                f"{config.path}: tasks.policy.{name} names a task Atomic does not know",
                hint=(f"did you mean {close[0]}? " if close else "")
                + "use a task name from `atomic tasks` (or add its module to tasks.modules)",
                context={"file": str(config.path), "key": f"tasks.policy.{name}"},
            )
        policies[name] = declared.build()
    return policies
