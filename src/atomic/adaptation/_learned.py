"""A label task's learned classifier, registered as a model that bids like any other.

With an encoder, the classifier embeds the input when it first predicts it: in a bid that is on
the caller's thread (a bid is synchronous), and the embedding is then cached, so the answer
that follows reads it back; an answer to an input not bid on embeds it in a worker thread.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from atomic.adaptation._text import text_of
from atomic.encoders import CachedEncoder
from atomic.errors import InvalidRequestError
from atomic.models import (
    Assessment,
    Model,
    ModelCard,
    ModelRequest,
    ModelResponse,
    OutputStrategy,
    Price,
    Residency,
)

if TYPE_CHECKING:
    from atomic.adaptation._adaptation import Adaptation

__all__ = ["LEARNED_PRICE", "LearnedModel", "learned_card"]

LEARNED_PRICE = Price(per_call=1e-7, source="nominal: about a millisecond of one CPU core")


def learned_card(task_name: str) -> ModelCard:
    """The card of ``learned:<task_name>``."""
    return ModelCard(
        id=f"learned:{task_name}",
        price=LEARNED_PRICE,
        context_window=1_000_000,
        residency=Residency.LOCAL,
        strategies=frozenset({OutputStrategy.GRAMMAR}),
        latency_prior_ms=2.0,
        quality_prior=0.0,
        tasks=frozenset({task_name}),
        description=f"text classifier learned from the verified examples of {task_name}",
    )


class LearnedModel(Model):
    """``learned:<task>``: the task's classifier, trained on its memory, one per tenant.

    It declines to bid until it has been trained; then it bids its calibrated confidence on
    each input, so the exchange lets it answer the inputs it is sure of and sends the rest to
    a stronger model.
    """

    def __init__(self, task_name: str, adaptation: Adaptation) -> None:
        self.task_name = task_name
        self._adaptation = adaptation
        self.card = learned_card(task_name)

    def declines(self, task_name: str, tenant: str) -> str | None:
        classifier = self._adaptation.classifier(tenant, self.task_name)
        if classifier is not None and classifier.trained:
            return None
        have = len(self._adaptation.memory(tenant, self.task_name))
        need = self._adaptation.settings.classifier_min_examples
        return f"not trained yet: {have} verified examples of the {need} it needs"

    def assess(self, task_name: str, tenant: str, task_input: dict[str, Any]) -> Assessment | None:
        classifier = self._adaptation.classifier(tenant, self.task_name)
        prediction = classifier.predict(text_of(task_input)) if classifier else None
        if classifier is None or prediction is None:
            return None
        calibrated = "calibrated on" if classifier.evidence >= 30 else "raw, with"
        features = "TF-IDF" if classifier.encoder is None else f"TF-IDF + {classifier.encoder.name}"
        return Assessment(
            p_success=prediction.confidence,
            evidence=classifier.evidence,
            source=(
                f"own confidence ({calibrated} {classifier.evidence} held-out judgements; "
                f"classifier v{classifier.version} on {features})"
            ),
        )

    async def invoke(self, request: ModelRequest) -> ModelResponse:
        start = time.perf_counter()
        tenant = request.tenant or self._adaptation.settings.tenant
        classifier = self._adaptation.classifier(tenant, self.task_name)
        if request.task_input is None or classifier is None:
            raise InvalidRequestError(
                f"{self.id} needs the task input and a trained classifier",
                hint=f"{self.id} serves only task {self.task_name!r}, once trained",
                model_id=self.id,
                context={"tenant": tenant},
            )
        text = text_of(request.task_input)
        if isinstance(classifier.encoder, CachedEncoder) and classifier.trained:
            # Off the event loop: predict() below then finds the embedding in the cache.
            await classifier.encoder.encode([text])
        prediction = classifier.predict(text)
        if prediction is None:
            raise InvalidRequestError(
                f"{self.id} is not trained yet for tenant {tenant!r}",
                hint="give feedback on the task's runs; it trains from verified examples",
                model_id=self.id,
                context={"tenant": tenant},
            )
        return ModelResponse(
            model_id=self.id,
            text=json.dumps({"label": prediction.label}),
            cost_usd=LEARNED_PRICE.per_call,
            latency_ms=(time.perf_counter() - start) * 1000,
            strategy=OutputStrategy.GRAMMAR,
        )
