"""Local GGUF models through llama-cpp-python: templates, loading, calls, and constrained output."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel, Field

from atomic.errors import (
    ConstraintError,
    ContextWindowExceededError,
    ModelNotFoundError,
    OutputValidationError,
    UnsupportedError,
)
from atomic.models import (
    BUILTIN_LOCAL_IDS,
    LlamaCppModel,
    Message,
    ModelCard,
    ModelRequest,
    OutputSpec,
    OutputStrategy,
    Residency,
    Usage,
    builtin_local_model,
)
from atomic.models._chat_templates import CHAT_TEMPLATES
from atomic.models._local import GEMMA_FILE, gemma_path, smollm2_path
from atomic.settings import AtomicSettings, ConstraintBackend
from atomic.tasks import ModelOutcome, Task, attempt_model, render_messages
from atomic.tasks._builtin import SupportMessage, TransactionFacts, sentiment, transaction_facts
from tests.fixtures.llm import GEMMA_ID, SMOLLM2_ID, with_backend

pytestmark = pytest.mark.llm

Out = TypeVar("Out")

MODELS = ["smollm2", "gemma"]
BACKENDS = list(ConstraintBackend)


def _model(request: pytest.FixtureRequest, name: str) -> LlamaCppModel:
    model: LlamaCppModel = request.getfixturevalue(name)
    return model


def _ask(text: str, *, max_tokens: int = 8, **fields: Any) -> ModelRequest:
    return ModelRequest(
        messages=(Message(role="user", content=text),), max_tokens=max_tokens, **fields
    )


def _grammar_request(task: Task[Any, Any], text: str) -> ModelRequest:
    messages = render_messages(task, SupportMessage(text=text), OutputStrategy.GRAMMAR)
    return ModelRequest(
        messages=tuple(messages),
        output=OutputSpec(
            name=task.name, json_schema=task.schema.wire_schema, strategy=OutputStrategy.GRAMMAR
        ),
        max_tokens=task.max_output_tokens,
    )


async def _outcome(
    call: Coroutine[Any, Any, ModelOutcome[Out]],
) -> ModelOutcome[Out] | OutputValidationError:
    """The outcome of a task call, or the typed error it raised: both are acceptable answers."""
    try:
        return await call
    except OutputValidationError as exc:
        return exc


# -- the prompt each model really sees ---------------------------------------------------------

CHAT = [
    Message(role="system", content="Answer in French."),
    Message(role="user", content="Hello?"),
    Message(role="assistant", content="Bonjour."),
    Message(role="user", content="Thanks."),
]


def test_smollm2_reads_chatml_from_its_own_template(smollm2: LlamaCppModel) -> None:
    assert smollm2.chat_template == smollm2.llama.metadata["tokenizer.chat_template"]
    assert smollm2.render_prompt(CHAT) == (
        "<|im_start|>system\nAnswer in French.<|im_end|>\n"
        "<|im_start|>user\nHello?<|im_end|>\n"
        "<|im_start|>assistant\nBonjour.<|im_end|>\n"
        "<|im_start|>user\nThanks.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_gemma_base_reads_the_chat_as_a_few_shot_document(gemma: LlamaCppModel) -> None:
    assert gemma.chat_template == CHAT_TEMPLATES["completion"]
    assert gemma.render_prompt(CHAT) == (
        "<bos>Answer in French.\n\nInput: Hello?\nOutput: Bonjour.\n\nInput: Thanks.\nOutput: "
    )


async def test_gemma_base_stops_where_it_would_start_the_next_input(gemma: LlamaCppModel) -> None:
    request = ModelRequest(messages=tuple(CHAT), max_tokens=48)
    response = await gemma.invoke(request)
    assert "Input:" not in response.text
    assert response.finish_reason == "stop"
    assert response.usage.output_tokens < 48


def test_gemma_chat_template_folds_the_system_text_into_the_first_user_turn(
    gemma: LlamaCppModel, llm_settings: AtomicSettings
) -> None:
    # For Gemma 3's instruction-tuned files: the template has no system role.
    chat = LlamaCppModel(
        gemma_path(llm_settings.home), card=gemma.card, n_ctx=512, chat_format="gemma3"
    )
    prompt = chat.render_prompt(CHAT)
    assert prompt == (
        "<bos><start_of_turn>user\nAnswer in French.\n\nHello?<end_of_turn>\n"
        "<start_of_turn>model\nBonjour.<end_of_turn>\n"
        "<start_of_turn>user\nThanks.<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    # The markers are the vocabulary's control tokens, not their spelling in plain text.
    llama = chat.llama
    tokens = llama.tokenize(prompt.encode(), add_bos=False, special=True)
    start_of_turn = llama.tokenize(b"<start_of_turn>", add_bos=False, special=True)
    assert len(start_of_turn) == 1
    assert tokens.count(start_of_turn[0]) == 4
    assert tokens[0] == llama.token_bos()
    assert tokens.count(llama.token_bos()) == 1
    chat.close()


def test_gemma_file_is_the_pretrained_base_model(gemma: LlamaCppModel) -> None:
    # Why its id has no "-it": the file carries no instruction-tuning mark and no template.
    metadata = gemma.llama.metadata
    assert metadata["general.name"] == "Gemma 3 270m"
    assert "general.finetune" not in metadata
    assert "tokenizer.chat_template" not in metadata
    assert gemma.id == GEMMA_ID == "llamacpp:gemma-3-270m"


def test_gemma_is_assembled_once_into_home(
    gemma: LlamaCppModel, llm_settings: AtomicSettings
) -> None:
    target = llm_settings.home / "models" / GEMMA_FILE
    assert target.is_file()
    assert [p.name for p in target.parent.iterdir()] == [GEMMA_FILE]  # no partial file left
    before = target.stat().st_mtime_ns
    assert gemma_path(llm_settings.home) == target
    assert target.stat().st_mtime_ns == before


def test_every_system_message_reaches_a_template_without_system_role(
    smollm2: LlamaCppModel,
) -> None:
    template = (
        "{% for m in messages %}{% if m['role'] != 'system' %}"
        "[{{ m['role'] }}] {{ m['content'] }}\n{% endif %}{% endfor %}[assistant]"
    )
    model = LlamaCppModel(smollm2_path(), card=smollm2.card, n_ctx=512, chat_format=template)
    prompt = model.render_prompt(
        [
            Message(role="system", content="Rule one."),
            Message(role="system", content="Rule two."),
            Message(role="user", content="Go."),
        ]
    )
    assert prompt == "[user] Rule one.\n\nRule two.\n\nGo.\n[assistant]"
    model.close()


# -- loading once, calling many times ----------------------------------------------------------


async def test_loads_lazily_once_and_reuses_the_loaded_model(smollm2: LlamaCppModel) -> None:
    model = LlamaCppModel(smollm2_path(), card=smollm2.card, n_ctx=512, n_threads=1)
    assert not model.loaded
    first, second = await asyncio.gather(
        model.invoke(_ask("Say yes.")), model.invoke(_ask("Say no."))
    )
    llama = model.llama
    third = await model.invoke(_ask("Say yes."))
    assert model.llama is llama
    assert third.text == first.text  # temperature 0: the same prompt, the same answer
    assert second.usage.output_tokens >= 1
    await model.aclose()
    assert not model.loaded


async def test_a_cancelled_call_returns_at_once_and_frees_the_model(smollm2: LlamaCppModel) -> None:
    story = asyncio.create_task(smollm2.invoke(_ask("Tell a long story.", max_tokens=1500)))
    await asyncio.sleep(0.3)  # let it start generating
    story.cancel()
    with pytest.raises(asyncio.CancelledError):
        await story
    # The abandoned thread stops at its next token and releases the model.
    response = await smollm2.invoke(_ask("Say yes.", max_tokens=3))
    assert response.usage.output_tokens >= 1


async def test_response_reports_usage_cost_latency_and_finish(smollm2: LlamaCppModel) -> None:
    request = _ask("Count from one to twenty.", max_tokens=5)
    response = await smollm2.invoke(request)
    prompt = smollm2.render_prompt(request.messages)
    assert response.model_id == SMOLLM2_ID
    assert response.usage.input_tokens == len(
        smollm2.llama.tokenize(prompt.encode(), add_bos=False, special=True)
    )
    assert response.usage.output_tokens == 5
    assert response.finish_reason == "length"
    assert response.cost_usd == 0.0
    assert response.latency_ms > 0
    assert response.strategy is OutputStrategy.PROMPT


async def test_seed_makes_sampling_repeatable(smollm2: LlamaCppModel) -> None:
    request = _ask("Write a word.", max_tokens=6, temperature=1.5, seed=7)
    first = await smollm2.invoke(request)
    again = await smollm2.invoke(request)
    assert first.text == again.text


def test_count_tokens_uses_the_model_tokenizer(
    smollm2: LlamaCppModel, gemma: LlamaCppModel
) -> None:
    text = "Refund of 45.90 EUR, ref TX-88812"
    assert smollm2.count_tokens(text) == len(smollm2.llama.tokenize(text.encode(), add_bos=False))
    assert gemma.count_tokens(text) == len(gemma.llama.tokenize(text.encode(), add_bos=False))
    assert smollm2.count_tokens(text) != gemma.count_tokens(text)


async def test_prompt_longer_than_the_window_is_refused(smollm2: LlamaCppModel) -> None:
    request = _ask("refund " * 3000)
    with pytest.raises(ContextWindowExceededError) as caught:
        await smollm2.invoke(request)
    error = caught.value
    assert error.context["context_window"] == smollm2.n_ctx == 2048
    assert error.context["prompt_tokens"] > 3000
    assert f"{error.context['prompt_tokens']} tokens" in error.message
    assert "2048" in error.message
    assert error.hint is not None
    assert "ATOMIC_N_CTX" in error.hint


async def test_strategy_the_model_lacks_is_refused(smollm2: LlamaCppModel) -> None:
    spec = OutputSpec(name="x", json_schema={"type": "object"}, strategy=OutputStrategy.JSON_SCHEMA)
    with pytest.raises(UnsupportedError, match="json_schema"):
        await smollm2.invoke(_ask("hi", output=spec))


async def test_schema_the_backend_cannot_compile_raises_constraint_error(
    smollm2: LlamaCppModel,
) -> None:
    spec = OutputSpec(
        name="x",
        json_schema={"type": "object", "properties": {"a": {"not": {"type": "string"}}}},
        strategy=OutputStrategy.GRAMMAR,
    )
    with pytest.raises(ConstraintError, match="not") as caught:
        await smollm2.invoke(_ask("hi", output=spec))
    assert caught.value.hint is not None
    assert "falls back to prompt" in caught.value.hint


# -- tasks through attempt_model ----------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_constrained_label_output_is_always_schema_valid_json(
    request: pytest.FixtureRequest, name: str, backend: ConstraintBackend
) -> None:
    model = with_backend(_model(request, name), backend)
    for text in ("Thank you, the refund arrived today!", "My card was declined twice. Awful."):
        response = await model.invoke(_grammar_request(sentiment, text))
        data = json.loads(response.text)
        assert sentiment.schema.validate(data) in ("positive", "neutral", "negative")
        assert response.finish_reason == "stop"
        assert response.strategy is OutputStrategy.GRAMMAR


@pytest.mark.parametrize("name", MODELS)
async def test_label_task_gives_a_label_or_a_typed_error(
    request: pytest.FixtureRequest, name: str
) -> None:
    model = _model(request, name)
    message = SupportMessage(text="I was charged twice for the same coffee. Please fix it.")
    outcome = await _outcome(attempt_model(sentiment, message, model, max_attempts=2))
    if isinstance(outcome, OutputValidationError):
        assert outcome.attempts == 2
        return
    assert outcome.output in ("positive", "neutral", "negative")
    assert outcome.attempts[-1].strategy is OutputStrategy.GRAMMAR


@pytest.mark.parametrize("name", MODELS)
async def test_extraction_task_gives_valid_facts_or_a_typed_error(
    request: pytest.FixtureRequest, name: str
) -> None:
    model = _model(request, name)
    message = SupportMessage(
        text="Card ending 4421 was charged 120 EUR at Amazon on 2024-05-03. I did not buy it!"
    )
    outcome = await _outcome(attempt_model(transaction_facts, message, model, max_attempts=1))
    if isinstance(outcome, OutputValidationError):
        assert outcome.errors  # says what was wrong with the last answer
        return
    facts = outcome.output
    assert isinstance(facts, TransactionFacts)
    TransactionFacts.model_validate(facts.model_dump())  # never an invalid object
    assert 1 <= facts.urgency <= 5
    assert all(check.passed for check in outcome.attempts[-1].checks)


class Ticket(BaseModel):
    urgency: int = Field(ge=1, le=5, description="1: can wait, 5: money is at risk now.")


URGENCY = Task(
    "urgency",
    input=SupportMessage,
    output=Ticket,
    instructions=(
        "Rate how urgent the message is. Write the urgency as the number of seconds the "
        "customer is willing to wait, e.g. 1000000000000000."
    ),
    max_output_tokens=16,
)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_integer_maximum_is_never_exceeded(
    gemma: LlamaCppModel, backend: ConstraintBackend
) -> None:
    model = with_backend(gemma, backend)
    message = SupportMessage(text="Someone is emptying my account right now!!! Block my card!")
    outcome = await _outcome(attempt_model(URGENCY, message, model, max_attempts=1))
    if isinstance(outcome, OutputValidationError):
        # gbnf drops minimum/maximum, so an out-of-range number can be written; validation
        # catches it and it never comes out as a value.
        assert backend is ConstraintBackend.GBNF
        assert any(error.startswith("urgency") for error in outcome.errors)
        return
    assert 1 <= outcome.output.urgency <= 5
    response = outcome.attempts[0].response
    assert response is not None
    assert response.finish_reason == "stop"


# -- the built-in local models -----------------------------------------------------------------


def test_builtin_cards(tmp_path: Path) -> None:
    settings = AtomicSettings(home=tmp_path, n_ctx=16384, threads=2)
    smol = builtin_local_model("llamacpp/smollm2-135m-instruct", settings)
    gem = builtin_local_model(GEMMA_ID, settings)
    assert smol.id == SMOLLM2_ID
    assert smol.card.context_window == 8192  # trained window caps the setting
    assert gem.card.context_window == 16384
    for model in (smol, gem):
        card: ModelCard = model.card
        assert card.residency is Residency.LOCAL
        assert card.price.cost(Usage(input_tokens=10_000, output_tokens=10_000)) == 0.0
        assert card.price.source == "local CPU, no per-token price"
        assert card.strategies == {OutputStrategy.GRAMMAR, OutputStrategy.PROMPT}
        assert card.best_strategy() is OutputStrategy.GRAMMAR
        assert model.n_threads == 2
        assert not model.loaded
    assert not (tmp_path / "models").exists()  # building the registry assembles nothing


def test_default_settings_name_only_builtin_models() -> None:
    assert set(AtomicSettings().local_models) <= set(BUILTIN_LOCAL_IDS)
    assert set(BUILTIN_LOCAL_IDS) == {SMOLLM2_ID, GEMMA_ID}


def test_unknown_builtin_id_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        builtin_local_model("llamacpp:gemma-3-270m-it", AtomicSettings(home=tmp_path))
    assert caught.value.hint is not None
    for model_id in BUILTIN_LOCAL_IDS:
        assert model_id in caught.value.hint
