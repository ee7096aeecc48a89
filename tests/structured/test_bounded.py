"""Bounded text that reads whole: cut at its bound mid-sentence is invalid, and re-asked."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, Field

from atomic.models import OutputStrategy, ScriptedModel
from atomic.structured import OutputSchema, decode
from atomic.tasks import Task, attempt_model
from atomic.tasks._prompt import render_messages

Reply = Annotated[str, Field(max_length=60)]
SCHEMA = OutputSchema.of(Reply)
# As it came back in the issue: exactly 60 characters, stopped mid-sentence.
CUT = "Thank you for your message. I checked your card and I can't "
WHOLE = "Thanks for writing. Your new card ships today."


class Message(BaseModel):
    text: str


reply = Task("short-reply", input=Message, output=Reply, instructions="Reply to the customer.")


def test_a_text_cut_at_its_bound_is_invalid() -> None:
    assert len(CUT) == 60
    decoded = decode(SCHEMA, json.dumps({"text": CUT}))
    assert decoded.value is None
    [error] = decoded.errors
    assert "cut off at the 60-character limit in mid-sentence" in error
    assert "I can't " in error


def test_whole_texts_pass_at_or_below_the_bound() -> None:
    assert decode(SCHEMA, json.dumps({"text": WHOLE})).value == WHOLE
    at_bound = "We are sorry about the double charge; a refund is on its way."[:59] + "."
    assert len(at_bound) == 60
    assert decode(SCHEMA, json.dumps({"text": at_bound})).value == at_bound
    unbounded = OutputSchema.of(str)
    assert decode(unbounded, json.dumps({"text": CUT})).value == CUT


def test_the_prompt_states_the_bound() -> None:
    [system, _] = render_messages(reply, Message(text="hi"), OutputStrategy.JSON_SCHEMA, [])
    assert "at most 60 characters" in system.content
    assert "complete sentences" in system.content


async def test_a_cut_answer_is_re_asked_and_the_whole_one_kept() -> None:
    model = ScriptedModel([{"text": CUT}, {"text": WHOLE}], id="scripted:replier")
    outcome = await attempt_model(reply, Message(text="Where is my card?"), model, max_attempts=3)
    assert outcome.output == WHOLE
    assert len(outcome.attempts) == 2
    reask = model.requests[1].messages[-1].content
    assert "cut off at the 60-character limit" in reask
