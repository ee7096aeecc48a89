from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from atomic import Atomic, AtomicSettings, Sensitivity, Task
from atomic.errors import InputValidationError, NoEligibleModelError, OutputValidationError
from atomic.models import Price, Residency, ScriptedModel, function_card
from atomic.settings import PromptStorage


class Message(BaseModel):
    text: str


mood = Task(
    "mood",
    input=Message,
    output=Literal["happy", "sad"],
    instructions="Say how the writer feels.",
)

secret_mood = Task(
    "secret-mood",
    input=Message,
    output=Literal["happy", "sad"],
    instructions="Say how the writer feels.",
    sensitivity=Sensitivity.CONFIDENTIAL,
)


def _settings(tmp_path: Path, store_url: str, **extra: object) -> AtomicSettings:
    return AtomicSettings(home=tmp_path, database_url=store_url, local_models=[], **extra)


@pytest.fixture
async def cheap_and_dear(
    tmp_path: Path, store_url: str
) -> AsyncIterator[tuple[Atomic, ScriptedModel, ScriptedModel]]:
    cheap = ScriptedModel(
        ['{"label": "angry"}', '{"label": "happy"}'],
        card=function_card("scripted:cheap", price=Price(per_call=0.001)),
    )
    dear = ScriptedModel(
        ['{"label": "sad"}'],
        card=function_card("scripted:dear", price=Price(per_call=0.05), residency=Residency.CLOUD),
    )
    atomic = await Atomic.open(
        _settings(tmp_path, store_url), models=[dear, cheap], tasks=[mood, secret_mood]
    )
    yield atomic, cheap, dear
    await atomic.aclose()


async def test_run_and_every_attempt_are_stored(
    cheap_and_dear: tuple[Atomic, ScriptedModel, ScriptedModel],
) -> None:
    atomic, _cheap, dear = cheap_and_dear
    result = await atomic.run("mood", {"text": "sunny day"})
    assert result.output == "happy"
    assert result.model_id == "scripted:cheap"  # the cheaper of two eligible models
    assert result.attempts == 2
    assert dear.requests == []

    stored = await atomic.get_run(result.run_id)
    assert stored.status == "succeeded"
    assert stored.output == "happy"
    assert stored.input == {"text": "sunny day"}
    assert stored.task_name == "mood"
    assert stored.model_id == "scripted:cheap"
    assert [a.raw_output for a in stored.attempts] == ['{"label": "angry"}', '{"label": "happy"}']
    assert (
        stored.attempts[0]
        .validation_errors[0]
        .startswith("output: Input should be 'happy' or 'sad'")
    )
    assert stored.attempts[1].validation_errors == []
    assert stored.attempts[0].prompt is not None
    assert "sunny day" in stored.attempts[0].prompt
    assert len(stored.attempts[0].prompt_sha256) == 64
    assert stored.attempts[0].price["per_call"] == 0.001
    assert stored.cost_usd == pytest.approx(0.002)


async def test_confidential_data_never_reaches_a_cloud_model(
    cheap_and_dear: tuple[Atomic, ScriptedModel, ScriptedModel],
) -> None:
    atomic, _, dear = cheap_and_dear
    with pytest.raises(NoEligibleModelError) as caught:
        await atomic.run("secret-mood", {"text": "x"}, model="scripted:dear")
    assert "confidential data may not go to a cloud model" in caught.value.message
    assert dear.requests == []


async def test_bad_input_names_the_field_and_stores_nothing(
    cheap_and_dear: tuple[Atomic, ScriptedModel, ScriptedModel],
) -> None:
    atomic, cheap, _ = cheap_and_dear
    with pytest.raises(InputValidationError) as caught:
        await atomic.run("mood", {"txt": "typo"})
    assert caught.value.errors[0].startswith("text: Field required")
    assert "text" in (caught.value.hint or "")
    assert cheap.requests == []
    assert await atomic.list_runs() == []


async def test_a_failed_run_is_stored_with_its_error(tmp_path: Path, store_url: str) -> None:
    model = ScriptedModel(["meh", "so-so", "hmm"], id="scripted:vague")
    async with await Atomic.open(
        _settings(tmp_path, store_url), models=[model], tasks=[mood]
    ) as atomic:
        with pytest.raises(OutputValidationError) as caught:
            await atomic.run("mood", {"text": "x"})
        run_id = caught.value.context["run_id"]
        stored = await atomic.get_run(run_id)
    assert stored.status == "failed"
    assert stored.error_code == "output.invalid"
    assert stored.output is None
    assert len(stored.attempts) == 3
    assert [a.raw_output for a in stored.attempts] == ["meh", "so-so", "hmm"]


async def test_hash_only_prompt_storage(tmp_path: Path, store_url: str) -> None:
    model = ScriptedModel(['{"label": "sad"}'], id="scripted:one")
    settings = _settings(tmp_path, store_url, prompt_storage=PromptStorage.HASH)
    async with await Atomic.open(settings, models=[model], tasks=[mood]) as atomic:
        result = await atomic.run("mood", {"text": "private words"})
        stored = await atomic.get_run(result.run_id)
    assert stored.attempts[0].prompt is None
    assert len(stored.attempts[0].prompt_sha256) == 64
