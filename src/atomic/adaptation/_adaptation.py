"""Adaptation of each task, per tenant: its memory, its learned classifier, its switches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atomic.adaptation._classifier import TextClassifier
from atomic.adaptation._learned import LearnedModel
from atomic.adaptation._memory import MemoryChange, TaskMemory
from atomic.adaptation._text import input_key, text_of
from atomic.encoders import encoder_from_settings
from atomic.errors import InputValidationError, StorageError
from atomic.settings import AtomicSettings
from atomic.storage import (
    AdaptationStateRecord,
    ClassifierRecord,
    MemoryRecord,
    Store,
    utcnow,
)
from atomic.structured import OutputKind
from atomic.tasks import Example, Task, TaskCatalog

__all__ = [
    "Adaptation",
    "AdaptationStatus",
    "ClassifierStatus",
    "Demonstration",
    "ModelEstimate",
]

MIN_SIMILARITY = 0.1
"""Examples less similar than this (sharing a stop word or two) would only be noise."""
MIN_SIMILARITY_EMBEDDED = 0.25
"""The same floor for the mixed score, TF-IDF and embedding: sentences of one language on
one subject have cosines of 0.2 or so between their embeddings however unrelated their
meaning (in Banking77, every query's nearest neighbour scores over 0.35)."""

Key = tuple[str, str]
"""(tenant, task name)."""

_log = logging.getLogger("atomic.adaptation")


@dataclass(frozen=True)
class Demonstration:
    """A remembered example chosen for a prompt, and how similar its input is to the call's."""

    record: MemoryRecord
    similarity: float
    example: Example[Any, Any]


@dataclass(frozen=True)
class ClassifierStatus:
    model_id: str
    trained: bool
    version: int
    trained_on: int
    heldout_accuracy: float | None
    heldout_judgements: int


@dataclass(frozen=True)
class ModelEstimate:
    """What the exchange believes of one model on the task, and what the belief rests on."""

    model_id: str
    p_correct: float
    source: str


@dataclass(frozen=True)
class AdaptationStatus:
    """What one task has learned for one tenant (``atomic task show``)."""

    task_name: str
    tenant: str
    frozen: bool
    memory_size: int
    memory_capacity: int
    memory_by_source: dict[str, int]
    classifier: ClassifierStatus | None
    win_shares: dict[str, int] = field(default_factory=dict)
    estimates: list[ModelEstimate] = field(default_factory=list)


class Adaptation:
    """Every task's memory of verified examples and learned classifier, per tenant.

    Feedback reaches it through :meth:`atomic.exchange.Exchange.record_feedback`; calls read
    it through :meth:`demonstrations` (examples for LLM prompts) and the learned models it
    registers (:meth:`learned_models`).
    """

    def __init__(self, store: Store, settings: AtomicSettings, tasks: TaskCatalog) -> None:
        self.store = store
        self.settings = settings
        self.tasks = tasks
        self._memories: dict[Key, TaskMemory] = {}
        self._classifiers: dict[Key, TextClassifier] = {}
        self._frozen: set[Key] = set()
        self.encoder = encoder_from_settings(settings)
        """The sentence encoder of classifiers and retrieval (``None``: TF-IDF alone)."""

    async def restore(self) -> int:
        """Load memories, switches and saved classifiers from the store; a classifier is
        retrained only when its memory has grown past what it was trained on (or none was
        saved), and then saved."""
        records = await self.store.load_memory()
        grouped: dict[Key, list[MemoryRecord]] = {}
        for record in records:
            grouped.setdefault((record.tenant, record.task_name), []).append(record)
        for (tenant, task_name), group in grouped.items():
            self.memory(tenant, task_name).load(group)
        for state in await self.store.load_adaptation_states():
            key = (state.tenant, state.task_name)
            if state.frozen:
                self._frozen.add(key)
            classifier = self.classifier(*key)
            if classifier is not None and "classifier" in state.state:
                classifier.load_state(state.state["classifier"])
        for saved in await self.store.load_classifiers():
            self._load_classifier(saved)
        for tenant, task_name in grouped:
            refitted = await self.refit(tenant, task_name, bump=False)
            if refitted is not None:
                await self.store.save_adaptation(classifier=refitted)
        return len(records)

    async def _catch_up(self, tenant: str, task_name: str, version: int) -> None:
        """Load a classifier another process trained and saved since this one loaded it, with
        its held-out judgements (a status read in the service shows what runs elsewhere)."""
        newer = await self.store.load_classifiers(
            tenant=tenant, task_name=task_name, newer_than=version
        )
        if not newer:
            return
        self._load_classifier(newer[0])
        classifier = self.classifier(tenant, task_name)
        for state in await self.store.load_adaptation_states(tenant=tenant, task_name=task_name):
            if classifier is not None and "classifier" in state.state:
                classifier.load_state(state.state["classifier"])

    def _load_classifier(self, saved: ClassifierRecord) -> None:
        classifier = self.classifier(saved.tenant, saved.task_name)
        if classifier is None:
            return
        try:
            classifier.load(saved.blob, version=saved.version, trained_on=saved.trained_on)
        except StorageError as exc:
            # The memory is the source of truth and the blob only spares a retraining: a blob
            # this Atomic cannot read is skipped, and the classifier is trained again.
            _log.warning(
                "%s (tenant %r, task %r); retraining it from memory",
                exc,
                saved.tenant,
                saved.task_name,
            )

    def learned_models(self) -> list[LearnedModel]:
        """One learned model per label task (when ``ATOMIC_LEARNED_MODELS`` is on)."""
        if not self.settings.learned_models:
            return []
        return [
            LearnedModel(task.name, self)
            for task in self.tasks
            if task.schema.kind is OutputKind.LABEL
        ]

    def memory(self, tenant: str, task_name: str) -> TaskMemory:
        key = (tenant, task_name)
        memory = self._memories.get(key)
        if memory is None:
            memory = TaskMemory(
                tenant, task_name, capacity=self.settings.memory_size, encoder=self.encoder
            )
            self._memories[key] = memory
        return memory

    def classifier(self, tenant: str, task_name: str) -> TextClassifier | None:
        """The task's classifier for ``tenant`` (``None`` for tasks that are not label tasks)."""
        key = (tenant, task_name)
        classifier = self._classifiers.get(key)
        if classifier is None:
            if not self.settings.learned_models or task_name not in self.tasks:
                return None
            if self.tasks.get(task_name).schema.kind is not OutputKind.LABEL:
                return None
            classifier = TextClassifier(
                min_examples=self.settings.classifier_min_examples, encoder=self.encoder
            )
            self._classifiers[key] = classifier
        return classifier

    def is_frozen(self, tenant: str, task_name: str) -> bool:
        return (tenant, task_name) in self._frozen

    def demonstrations(
        self, tenant: str, task: Task[Any, Any], task_input: Mapping[str, Any]
    ) -> list[Demonstration]:
        """The remembered examples most like ``task_input``, least similar first (the
        closest ends up next to the input in the prompt)."""
        k = self.settings.memory_examples
        memory = self._memories.get((tenant, task.name))
        if k == 0 or memory is None or not len(memory):
            return []
        found = []
        floor = MIN_SIMILARITY if self.encoder is None else MIN_SIMILARITY_EMBEDDED
        for record, similarity in memory.search(text_of(task_input), k):
            if similarity < floor:
                continue
            example = Example(task.parse_input(record.input), task.schema.validate(record.output))
            found.append(Demonstration(record, similarity, example))
        return found[::-1]

    def learn(
        self,
        task: Task[Any, Any],
        tenant: str,
        data: dict[str, Any],
        output: Any,
        *,
        source: str,
        run_id: str | None = None,
        feedback_id: str | None = None,
    ) -> MemoryChange | None:
        """Remember a verified (input, output) pair in memory; ``None`` when frozen.

        A label task's classifier first predicts the input (a held-out judgement for its
        calibration), then the pair joins the memory it trains on.
        """
        if self.is_frozen(tenant, task.name):
            return None
        memory = self.memory(tenant, task.name)
        text = text_of(data)
        stored = task.schema.dump(output)
        classifier = self.classifier(tenant, task.name)
        if classifier is not None:
            classifier.observe(text, str(stored))
        record = memory.new_record(
            key=input_key(data),
            data=data,
            text=text,
            output=stored,
            source=source,
            run_id=run_id,
            feedback_id=feedback_id,
        )
        return memory.propose(record)

    def unlearn_run(self, tenant: str, task_name: str, run_id: str) -> list[str]:
        """Forget the example a run's earlier feedback put in memory (it was retracted)."""
        if self.is_frozen(tenant, task_name):
            return []
        memory = self.memory(tenant, task_name)
        gone = [r.id for r in memory if r.run_id == run_id]
        for example_id in gone:
            memory.forget(example_id)
        return gone

    async def refit(
        self, tenant: str, task_name: str, *, bump: bool = True
    ) -> ClassifierRecord | None:
        """Retrain the task's classifier if its memory grew enough; returns the new classifier
        to save (:meth:`Store.save_adaptation`), or ``None`` if it was not retrained."""
        classifier = self.classifier(tenant, task_name)
        memory = self._memories.get((tenant, task_name))
        if classifier is None or memory is None:
            return None
        records = list(memory)
        labels = [str(r.output) for r in records]
        if not classifier.wants_refit(len(records), len(set(labels))):
            return None
        texts = [r.text for r in records]

        def fit_and_dump() -> bytes:
            classifier.fit(texts, labels, bump=bump)
            return classifier.dump()

        # Fitting takes seconds on thousands of examples, and serialising it milliseconds:
        # both off the event loop.
        blob = await asyncio.to_thread(fit_and_dump)
        return ClassifierRecord(
            tenant=tenant,
            task_name=task_name,
            version=classifier.version,
            trained_on=classifier.trained_on,
            blob=blob,
        )

    def state_record(self, tenant: str, task_name: str) -> AdaptationStateRecord:
        classifier = self._classifiers.get((tenant, task_name))
        state: dict[str, Any] = {}
        if classifier is not None:
            state["classifier"] = classifier.to_state()
        return AdaptationStateRecord(
            tenant=tenant,
            task_name=task_name,
            frozen=self.is_frozen(tenant, task_name),
            state=state,
            updated_at=utcnow(),
        )

    async def remember(
        self,
        task: Task[Any, Any],
        examples: list[tuple[Mapping[str, Any], Any]],
        *,
        source: str = "ground_truth",
        tenant: str | None = None,
    ) -> int:
        """Add labelled (input, output) pairs to a task's memory, as verified examples
        (seeding a task from data labelled elsewhere). Returns how many were kept."""
        tenant = tenant or self.settings.tenant
        kept: dict[str, MemoryRecord] = {}
        forget: set[str] = set()
        for i, (raw_input, raw_output) in enumerate(examples):
            data = task.parse_input(raw_input).model_dump(mode="json")
            try:
                output = task.schema.validate(raw_output)
            except Exception as exc:
                raise InputValidationError(
                    f"example {i} has an output that is not a valid {task.name} output: {exc}",
                    errors=[str(exc)],
                    hint="give outputs of the task's output type",
                    context={"task": task.name, "index": i},
                ) from exc
            change = self.learn(task, tenant, data, output, source=source)
            if change is not None and change.kept:
                record = self.memory(tenant, task.name).get_by_key(input_key(data))
                if record is not None:
                    kept[record.id] = record
                for evicted in change.evicted:
                    kept.pop(evicted.id, None)
                    forget.add(evicted.id)
        refitted = await self.refit(tenant, task.name)
        await self.store.save_adaptation(
            remember=list(kept.values()),
            forget=sorted(forget - set(kept)),
            state=self.state_record(tenant, task.name),
            classifier=refitted,
        )
        return len(kept)

    async def freeze(
        self, task_name: str, *, frozen: bool = True, tenant: str | None = None
    ) -> None:
        """Stop (or restart) a task's memory and classifier from changing; feedback is still
        recorded and still counts in the exchange's posteriors."""
        key = (tenant or self.settings.tenant, task_name)
        if frozen:
            self._frozen.add(key)
        else:
            self._frozen.discard(key)
        await self.store.save_adaptation(state=self.state_record(*key))

    async def reset(self, task_name: str, *, tenant: str | None = None) -> int:
        """Forget a task's memory and classifier; returns how many examples were dropped."""
        tenant = tenant or self.settings.tenant
        key = (tenant, task_name)
        self._memories.pop(key, None)
        self._classifiers.pop(key, None)
        dropped = await self.store.clear_memory(task_name, tenant=tenant)
        await self.store.save_adaptation(state=self.state_record(tenant, task_name))
        return dropped

    async def status(self, task_name: str, *, tenant: str | None = None) -> AdaptationStatus:
        tenant = tenant or self.settings.tenant
        memory = self.memory(tenant, task_name)
        classifier = self.classifier(tenant, task_name)
        classifier_status = None
        if classifier is not None:
            await self._catch_up(tenant, task_name, classifier.version)
            classifier_status = ClassifierStatus(
                model_id=f"learned:{task_name}",
                trained=classifier.trained,
                version=classifier.version,
                trained_on=classifier.trained_on,
                heldout_accuracy=classifier.heldout_accuracy(),
                heldout_judgements=min(classifier.evidence, 200),
            )
        return AdaptationStatus(
            task_name=task_name,
            tenant=tenant,
            frozen=self.is_frozen(tenant, task_name),
            memory_size=len(memory),
            memory_capacity=memory.capacity,
            memory_by_source=dict(memory.label_counts()),
            classifier=classifier_status,
            win_shares=await self.store.win_shares(task_name, tenant=tenant),
        )
