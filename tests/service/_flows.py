"""Workflows the service tests serve (by module name, as ``ATOMIC_WORKFLOWS`` names them)."""

from __future__ import annotations

from pydantic import BaseModel

from atomic import Task
from atomic.workflows import step, workflow


class Email(BaseModel):
    text: str


class Handled(BaseModel):
    queue: str
    merchant: str | None
    runs: list[str]


# Declared next to the workflow: the service registers it with the workflow.
note = Task("flow-note", input=Email, output=str, instructions="Say what the email is about.")


@workflow
async def handle_email(email: Email) -> Handled:
    """Route an email, then pull the payment's facts out of it: two steps, two runs."""
    queue = await step("triage", {"text": email.text})
    facts = await step("facts", {"text": email.text})
    return Handled(
        queue=str(queue.output),
        merchant=facts.output.merchant,
        runs=[queue.run_id, facts.run_id],
    )
