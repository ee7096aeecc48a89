from typing import Literal

import pytest
from pydantic import BaseModel, Field

from atomic.errors import OutputValidationError, RateLimitError
from atomic.models import OutputStrategy, ScriptedModel, function_card
from atomic.tasks import Attempt, Example, Task, attempt_model, check


class Ticket(BaseModel):
    text: str


class Triage(BaseModel):
    urgency: int = Field(ge=1, le=5)
    team: Literal["cards", "transfers"]


@check
def urgent_if_stolen(ticket: Ticket, triage: Triage) -> bool:
    """a stolen card is urgency 5"""
    return "stolen" not in ticket.text or triage.urgency == 5


triage = Task(
    "triage",
    input=Ticket,
    output=Triage,
    instructions="Triage the ticket.",
    examples=(Example(Ticket(text="card declined"), Triage(urgency=2, team="cards")),),
    checks=(urgent_if_stolen,),
)


async def test_valid_first_answer_needs_one_attempt() -> None:
    model = ScriptedModel(['{"urgency": 2, "team": "cards"}'])
    seen: list[Attempt] = []

    async def keep(attempt: Attempt) -> None:
        seen.append(attempt)

    outcome = await attempt_model(triage, Ticket(text="declined"), model, on_attempt=keep)
    assert outcome.output == Triage(urgency=2, team="cards")
    assert [a.ok for a in seen] == [True]
    request = model.requests[0]
    assert request.output is not None
    assert request.output.strategy is OutputStrategy.GRAMMAR  # the strongest the card offers
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "user"]  # instructions, example, input
    assert request.messages[2].content == '{"urgency": 2, "team": "cards"}'


async def test_invalid_output_is_reasked_with_its_errors() -> None:
    model = ScriptedModel(
        ['{"urgency": 1000000000000000, "team": "cards"}', '{"urgency": 5, "team": "cards"}']
    )
    outcome = await attempt_model(triage, Ticket(text="my card was stolen"), model)
    assert outcome.output.urgency == 5
    assert len(outcome.attempts) == 2
    reask = model.requests[1].messages
    assert reask[-2].content == '{"urgency": 1000000000000000, "team": "cards"}'
    assert "urgency: Input should be less than or equal to 5" in reask[-1].content


async def test_failed_check_is_reasked_with_its_reason() -> None:
    model = ScriptedModel(['{"urgency": 2, "team": "cards"}', '{"urgency": 5, "team": "cards"}'])
    outcome = await attempt_model(triage, Ticket(text="stolen card"), model)
    assert outcome.output.urgency == 5
    assert (
        "check urgent_if_stolen: a stolen card is urgency 5"
        in model.requests[1].messages[-1].content
    )


async def test_never_valid_raises_with_raw_text_and_errors() -> None:
    model = ScriptedModel(["no idea", '{"urgency": 9}', '{"team": "loans", "urgency": 1}'])
    with pytest.raises(OutputValidationError) as caught:
        await attempt_model(triage, Ticket(text="hi"), model, max_attempts=3)
    error = caught.value
    assert error.attempts == 3
    assert error.raw_text == '{"team": "loans", "urgency": 1}'
    assert any(e.startswith("team:") for e in error.errors)
    assert error.code == "output.invalid"


async def test_a_reask_that_brings_back_the_same_output_ends_the_attempts() -> None:
    model = ScriptedModel(['{"urgency": 9}', '{"urgency": 9}', '{"urgency": 2, "team": "cards"}'])
    with pytest.raises(OutputValidationError) as caught:
        await attempt_model(triage, Ticket(text="hi"), model, max_attempts=3)
    assert caught.value.attempts == 2
    assert len(model.requests) == 2
    assert "the re-ask brought back the same output" in caught.value.message


async def test_model_error_is_recorded_then_raised() -> None:
    seen: list[Attempt] = []

    async def keep(attempt: Attempt) -> None:
        seen.append(attempt)

    model = ScriptedModel([RateLimitError("slow down", model_id="scripted:model", retry_after=3)])
    with pytest.raises(RateLimitError):
        await attempt_model(triage, Ticket(text="hi"), model, on_attempt=keep)
    assert len(seen) == 1
    assert seen[0].error is not None
    assert seen[0].error.is_retryable


async def test_prompt_strategy_shows_the_schema() -> None:
    card = function_card("scripted:prompt-only", strategies=frozenset({OutputStrategy.PROMPT}))
    model = ScriptedModel(['{"urgency": 1, "team": "transfers"}'], card=card)
    await attempt_model(triage, Ticket(text="hi"), model)
    system = model.requests[0].messages[0].content
    assert '"maximum":5' in system
    assert model.requests[0].output is not None
    assert model.requests[0].output.strategy is OutputStrategy.PROMPT
