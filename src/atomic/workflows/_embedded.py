"""The embedded durable runner: workflows journaled by DBOS Transact in Atomic's own database.

```python
async with EmbeddedRunner(atomic, workflows=[triage]) as runner:
    routed = await runner.run(triage, {"body": "my card is lost"})
```

One generic DBOS workflow, ``atomic.workflow(name, input)``, runs the ``WorkflowDef`` of that
name with this runner behind :func:`~atomic.workflows.step`; each step is a DBOS step whose
``StepResult`` is journaled before the workflow goes on. A runner that opens resumes the
workflows a dead process left pending: their code runs again from the top, journaled steps
return their recorded result without a model call, and the remaining steps run.

The journal is a SQLite file next to Atomic's (a second writer in Atomic's own file would only
add lock contention), or Atomic's PostgreSQL database itself, in the ``dbos`` schema.

Limits, all DBOS's: one runner per process (DBOS is a singleton), and one process per
database (the Temporal runner spans machines); steps run at least once (a process killed
after a model answered but before its result was journaled calls it again on recovery); and
only a runner of the same application version, a hash of the workflows' source, resumes
pending workflows, so changed workflow code never replays an old journal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import io
import pickle
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from dbos import DBOS, DBOSConfig, Serializer, SetWorkflowID, WorkflowHandleAsync
from pydantic import BaseModel
from sqlalchemy import make_url

from atomic.errors import AtomicError, ConfigError, RateLimitError, WorkflowError
from atomic.workflows._api import StepCall, StepResult, WorkflowDef, use_runner
from atomic.workflows._direct import execute_step
from atomic.workflows._status import (
    WorkflowNotFoundError,
    WorkflowState,
    WorkflowStatus,
    step_status,
)

if TYPE_CHECKING:
    from atomic._client import Atomic

__all__ = ["EmbeddedRunner", "system_database_url"]

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out")

_DBOS_WORKFLOW = "atomic.workflow"
_MAX_RETRY_DELAY_S = 60.0
_POLL_S = 0.2  # how often result() looks for the outcome of a workflow run elsewhere

_active: EmbeddedRunner | None = None

# DBOS's workflow states, as Atomic names them for every runner.
_STATES: dict[str, WorkflowState] = {
    "SUCCESS": "succeeded",
    "ERROR": "failed",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed",
    "CANCELLED": "cancelled",
}


def _moment(epoch_ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC) if epoch_ms else None


def _error_text(error: BaseException | Any) -> str:
    if isinstance(error, AtomicError):
        return f"{error.code}: {error}"
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


def system_database_url(database_url: str) -> str:
    """Where the embedded runner journals for Atomic's database ``database_url``: a SQLite
    file next to Atomic's (``atomic.db`` → ``atomic-workflows.db``), or the same PostgreSQL
    database (DBOS's tables are in its ``dbos`` schema)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(url.database).removesuffix(".db") + "-workflows.db")
    elif url.get_backend_name() != "postgresql":
        raise ConfigError(
            f"the embedded runner cannot keep its journal next to {database_url!r}",
            hint="use a SQLite file or a PostgreSQL database, or pass EmbeddedRunner a "
            "database_url for the journal",
            context={"database_url": database_url},
        )
    return _dbos_url(url.render_as_string(hide_password=False))


def _dbos_url(database_url: str) -> str:
    # DBOS runs a synchronous engine: the same database through its synchronous driver.
    url = make_url(database_url)
    driver = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return url.set(drivername=driver).render_as_string(hide_password=False)


# Journals name this function: renaming or moving it makes them unreadable.
def _rebuild_error(cls: type[AtomicError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # AtomicErrors take keyword-only arguments, which the default exception pickling
        # cannot replay: rebuild them from their state instead of calling __init__.
        if isinstance(obj, AtomicError):
            return _rebuild_error, (type(obj), obj.args, dict(obj.__dict__))
        return NotImplemented


class _JournalSerializer(Serializer):
    """DBOS's pickle journal, able to journal a failed step's AtomicError and read it back."""

    def serialize(self, data: Any) -> str:
        buffer = io.BytesIO()
        _Pickler(buffer).dump(data)
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    def deserialize(self, serialized_data: str) -> Any:
        return pickle.loads(base64.b64decode(serialized_data))

    def name(self) -> str:
        return "atomic_pickle"


async def _run_workflow(
    name: str, workflow_input: dict[str, Any], tenant: str | None = None
) -> Any:
    """The one DBOS workflow: runs Atomic's workflow ``name`` under the open runner, its
    steps acting as ``tenant``."""
    if _active is None:
        raise WorkflowError("a workflow ran with no EmbeddedRunner open")
    return await _active._execute(name, workflow_input, tenant)


_Workflow = Callable[[str, dict[str, Any], str | None], Coroutine[Any, Any, Any]]
_registered: _Workflow | None = None


def _dbos_workflow() -> _Workflow:
    # Registered on first use rather than at import (no import-time side effects); DBOS's
    # registry outlives DBOS.destroy(), so once per process is enough.
    global _registered
    if _registered is None:
        _registered = DBOS.workflow(name=_DBOS_WORKFLOW)(_run_workflow)
    return _registered


def _source(fn: Any) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):  # defined in a REPL: its name is all there is
        return str(getattr(fn, "__qualname__", fn))


class EmbeddedRunner:
    """Runs workflows durably in this process, journaled in Atomic's database by DBOS.

    ``workflows`` lists every workflow this runner may start or resume; ``database_url``
    overrides where the journal lives (a DBOS system database URL). A step that fails with
    a retryable error is tried again, ``max_attempts`` times in all, after ``retry_delay_s``
    doubling at each attempt (or the ``retry_after`` a rate limit asked for); any other
    error fails the step, and unless the workflow catches it, the workflow, with the
    original error (its ``context`` names the workflow, run and step).

    Leaving the ``async with`` block stops unfinished workflows where they are: the next
    runner opened on the same database resumes them.
    """

    def __init__(
        self,
        atomic: Atomic,
        workflows: Iterable[WorkflowDef[Any, Any]] = (),
        *,
        database_url: str | None = None,
        max_attempts: int = 5,
        retry_delay_s: float = 1.0,
    ) -> None:
        if max_attempts < 1 or retry_delay_s < 0:
            raise ValueError("max_attempts must be at least 1 and retry_delay_s at least 0")
        self.atomic = atomic
        self.tasks = atomic.tasks
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.workflows: dict[str, WorkflowDef[Any, Any]] = {}
        for wf in workflows:
            if self.workflows.setdefault(wf.name, wf) is not wf:
                raise WorkflowError(
                    f"two workflows are named {wf.name!r}",
                    hint="give one of them another name: @workflow(name=...)",
                    context={"workflow": wf.name},
                )
        self.system_database_url = (
            _dbos_url(database_url)
            if database_url
            else system_database_url(atomic.settings.resolved_database_url())
        )
        self._running: set[asyncio.Task[Any]] = set()
        self._loop_executor: ThreadPoolExecutor | None = None
        self._open = False

    async def __aenter__(self) -> EmbeddedRunner:
        global _active
        if _active is not None:
            raise WorkflowError(
                "another EmbeddedRunner is open in this process",
                hint="DBOS runs one instance per process: close the other runner first, or "
                "give one runner all the workflows",
            )
        _dbos_workflow()
        loop = asyncio.get_running_loop()
        # DBOS makes its executor the loop's default one and shuts it down on destroy();
        # asyncio has no public getter, so the loop's own executor is read to be put back.
        self._loop_executor = getattr(loop, "_default_executor", None)
        DBOS(config=self._config())
        _active = self
        try:
            # Launched on the loop's thread, DBOS adopts the running loop: the workflows it
            # recovers then run here, next to Atomic's async store. The migrations it runs
            # block the loop for that moment.
            DBOS.launch()
        except BaseException:
            await self._shutdown()
            raise
        self._open = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        global _active
        self._open = False
        # A cancelled DBOS workflow is not marked failed: it stays pending, to be resumed.
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        loop = asyncio.get_running_loop()
        loop.set_default_executor(self._loop_executor or ThreadPoolExecutor())
        try:
            await asyncio.to_thread(DBOS.destroy)
        finally:
            _active = None

    def _config(self) -> DBOSConfig:
        version = hashlib.sha256()
        parts = [_source(_run_workflow), *(n + _source(w.fn) for n, w in self.workflows.items())]
        for part in sorted(parts):
            version.update(part.encode())
        return {
            "name": "atomic",
            "system_database_url": self.system_database_url,
            "application_version": f"atomic-{version.hexdigest()[:16]}",
            "serializer": _JournalSerializer(),
            "sys_db_pool_size": 10,  # DBOS's 20 connections are a server's, not an embed's
            "log_level": "WARNING",
        }

    # The workflow side: what runs inside DBOS.

    async def _execute(self, name: str, workflow_input: dict[str, Any], tenant: str | None) -> Any:
        wf = self.workflows.get(name)
        if wf is None:
            raise WorkflowError(
                f"workflow {name!r} is not registered with this EmbeddedRunner",
                hint="pass it in EmbeddedRunner(atomic, workflows=[...])",
                context={"workflow": name, "workflow_id": DBOS.workflow_id},
            )
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            with use_runner(self, tenant=tenant, workflow=name, workflow_id=DBOS.workflow_id):
                output = await wf(wf.parse_input(workflow_input))
        except AtomicError as error:
            error.context.setdefault("workflow", name)
            raise
        finally:
            if task is not None:
                self._running.discard(task)
        # Journaled as JSON-ready data, so old journals survive changes to the classes.
        return output.model_dump(mode="json") if isinstance(output, BaseModel) else output

    async def step(self, call: StepCall) -> StepResult:
        """Run one task call as a DBOS step: journaled once done, replayed on recovery."""
        data = await DBOS.run_step_async({"name": call.task}, self._attempt_step, call)
        return StepResult.model_validate(data)

    async def _attempt_step(self, call: StepCall) -> dict[str, Any]:
        # Retried here rather than by DBOS so that a rate limit's retry_after is honoured.
        # DBOS has no heartbeats: a model call that hangs holds its workflow until the
        # step's deadline_s (enforced by the exchange) or the process dies; a crash
        # mid-call runs the call again when the workflow resumes.
        attempt = 1
        while True:
            try:
                result = await execute_step(self.atomic, call)
                return result.model_dump(mode="json")
            except AtomicError as error:
                if not error.is_retryable or attempt >= self.max_attempts:
                    error.context.update(
                        workflow_id=DBOS.workflow_id,
                        step_id=DBOS.step_id,
                        task=call.task,
                        step_attempts=attempt,
                    )
                    raise
                await asyncio.sleep(self._retry_delay(error, attempt))
                attempt += 1

    def _retry_delay(self, error: AtomicError, attempt: int) -> float:
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return max(0.0, error.retry_after)
        return min(self.retry_delay_s * 2.0 ** (attempt - 1), _MAX_RETRY_DELAY_S)

    # The caller's side.

    async def run(
        self,
        wf: WorkflowDef[In, Out],
        workflow_input: In | Mapping[str, Any],
        *,
        workflow_id: str | None = None,
        tenant: str | None = None,
    ) -> Out:
        """Run ``wf`` on ``workflow_input`` to completion and return its output; its steps
        act as ``tenant`` (None: the settings' tenant).

        With a ``workflow_id`` that already ran, its journaled outcome is returned instead.
        """
        handle = await self._start(wf, workflow_input, workflow_id, tenant)
        return self._output(wf, await handle.get_result(polling_interval_sec=_POLL_S))

    async def start(
        self,
        wf: WorkflowDef[In, Out],
        workflow_input: In | Mapping[str, Any],
        *,
        workflow_id: str | None = None,
        tenant: str | None = None,
    ) -> str:
        """Start ``wf`` in the background and return its workflow id (for :meth:`result` and
        :meth:`describe`); its steps act as ``tenant`` (None: the settings' tenant)."""
        handle = await self._start(wf, workflow_input, workflow_id, tenant)
        return handle.get_workflow_id()

    async def result(self, workflow_id: str, wf: WorkflowDef[In, Out]) -> Out:
        """Wait for the workflow ``workflow_id`` (a run of ``wf``) and return its output."""
        self._check(wf)
        await self._check_run_of(workflow_id, wf)
        handle: WorkflowHandleAsync[Any] = await DBOS.retrieve_workflow_async(
            workflow_id, existing_workflow=False
        )
        return self._output(wf, await handle.get_result(polling_interval_sec=_POLL_S))

    async def _start(
        self,
        wf: WorkflowDef[In, Out],
        workflow_input: In | Mapping[str, Any],
        workflow_id: str | None,
        tenant: str | None,
    ) -> WorkflowHandleAsync[Any]:
        self._check(wf)
        data = wf.parse_input(workflow_input).model_dump(mode="json")
        with SetWorkflowID(workflow_id) if workflow_id else nullcontext():
            handle: WorkflowHandleAsync[Any] = await DBOS.start_workflow_async(
                _dbos_workflow(), wf.name, data, tenant
            )
        if workflow_id:  # DBOS answers a known id with that run: make sure it ran ``wf``
            await self._check_run_of(workflow_id, wf)
        return handle

    def _check(self, wf: WorkflowDef[Any, Any]) -> None:
        if not self._open:
            raise WorkflowError(
                "the EmbeddedRunner is not open",
                hint="use it inside `async with EmbeddedRunner(atomic, workflows=[...]) as r:`",
            )
        if self.workflows.get(wf.name) is not wf:
            raise WorkflowError(
                f"workflow {wf.name!r} is not registered with this EmbeddedRunner",
                hint="pass it in EmbeddedRunner(atomic, workflows=[...]): a workflow must be "
                "known when the runner opens to be resumed after a crash",
                context={"workflow": wf.name},
            )

    async def _check_run_of(self, workflow_id: str, wf: WorkflowDef[Any, Any]) -> None:
        status = await DBOS.get_workflow_status_async(workflow_id)
        if status is None:
            raise WorkflowError(
                f"no workflow has the id {workflow_id!r}",
                hint="use the id that start() returned",
                context={"workflow_id": workflow_id},
            )
        args = status.input["args"] if status.input else ()
        ran = args[0] if status.name == _DBOS_WORKFLOW and args else status.name
        if ran != wf.name:
            raise WorkflowError(
                f"workflow id {workflow_id!r} is a run of {ran!r}, not of {wf.name!r}",
                hint="workflow ids are unique across workflows: pick another id",
                context={"workflow_id": workflow_id, "workflow": wf.name, "ran": ran},
            )

    async def describe(self, workflow_id: str) -> WorkflowStatus:
        """A workflow run's state, steps and output or error, from the journal."""
        status = await DBOS.get_workflow_status_async(workflow_id)
        if status is None:
            raise WorkflowNotFoundError(
                f"no workflow has the id {workflow_id!r}",
                hint="use the id that start() returned",
                context={"workflow_id": workflow_id},
            )
        args = list(status.input["args"]) if status.input else []
        steps = await DBOS.list_workflow_steps_async(workflow_id)
        return WorkflowStatus(
            workflow_id=workflow_id,
            workflow=args[0] if status.name == _DBOS_WORKFLOW and args else status.name,
            state=_STATES.get(status.status, "running"),
            runner="embedded",
            tenant=args[2] if len(args) > 2 else None,
            created_at=_moment(status.created_at),
            updated_at=_moment(status.updated_at),
            input=args[1] if len(args) > 1 else None,
            output=status.output,
            error=None if status.error is None else _error_text(status.error),
            steps=[
                step_status(i, s["function_name"], s["output"], s["error"])
                for i, s in enumerate(steps, start=1)
            ],
        )

    @staticmethod
    def _output(wf: WorkflowDef[Any, Out], value: Any) -> Out:
        output_type = wf.output_type
        if isinstance(output_type, type) and issubclass(output_type, BaseModel):
            return cast(Out, output_type.model_validate(value))
        return cast(Out, value)
