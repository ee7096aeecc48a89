"""Labelled seed emails for the urgency and sentiment tasks: the history the inbox starts from.

``seed_emails.jsonl`` (next to this module) holds short support emails written for the
project, one JSON object a line: ``id``, ``sender_name``, ``subject``, ``body``, ``urgency``
and ``sentiment``. None of them is one of the emails the demo scores (``emails.jsonl``, the
Banking77 test queries); a test keeps it so. The demo puts them in the tasks' memories before
the batch, as it puts Banking77's training queries in the intent task's: the LLMs get the most
similar ones as examples, and the learned classifiers train on them.

They are labelled by the rules the scored emails follow:

| urgency | when |
| --- | --- |
| ``critical`` | money is being lost now or the customer is locked out of it: a lost or stolen card or phone, payments or withdrawals they do not recognise, a compromised account, a transfer to the wrong account to stop |
| ``high`` | a payment, transfer, top-up or withdrawal failed, was declined, is missing, was charged twice or wrongly; a swallowed card, a blocked PIN, a direct debit never agreed to, an identity check that keeps the customer out |
| ``normal`` | a problem that can wait a day: a card on its way, a refund not yet shown or to request, an exchange rate or fee disputed, contactless not working, a pending transfer, a payee refused |
| ``low`` | a question, a request for information or a change of details, or thanks |

| sentiment | when |
| --- | --- |
| ``positive`` | the customer thanks or praises, even with a question or a problem |
| ``negative`` | the customer complains, is upset or alarmed, or reports a loss, fraud or a failure |
| ``neutral`` | a plain question, request or report, without complaint |
"""  # noqa: E501

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from atomic.apps.inbox._tasks import EmailContent, Sentiment, Urgency
from atomic.errors import InputValidationError

__all__ = ["SEEDS_FILE", "SeedEmail", "load_seeds"]

SEEDS_FILE = Path(__file__).with_name("seed_emails.jsonl")


class SeedEmail(BaseModel):
    """A support email written for the seed set, with its urgency and sentiment."""

    id: str = Field(pattern=r"^seed-[0-9]{3}$")
    sender_name: str | None = Field(default=None, max_length=80)
    subject: str = Field(default="", max_length=200)
    body: str = Field(min_length=1, max_length=2_000)
    urgency: Urgency
    sentiment: Sentiment

    def content(self) -> EmailContent:
        """The email as the tasks read it."""
        return EmailContent(sender_name=self.sender_name, subject=self.subject, body=self.body)


def load_seeds(path: Path = SEEDS_FILE) -> list[SeedEmail]:
    """The seed emails, validated; a bad line is an error naming its line number."""
    seeds: list[SeedEmail] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            seeds.append(SeedEmail.model_validate_json(raw))
        except ValidationError as exc:
            raise InputValidationError(
                f"{path}:{number} is not a valid seed email: {exc.errors()[0]['msg']}",
                errors=[str(e["loc"]) + ": " + e["msg"] for e in exc.errors()],
                hint="each line needs id, subject, body, urgency and sentiment",
                context={"path": str(path), "line": number},
            ) from exc
    return seeds
