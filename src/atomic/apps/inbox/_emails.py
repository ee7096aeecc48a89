"""The inbox's emails with their expected answers: handwritten ones, and Banking77 queries.

``emails.jsonl`` (next to this module) holds support emails written for the inbox, one JSON
object a line: ``id``, ``sender_name``, ``subject``, ``body`` and ``expected`` (``intent``,
``facts``, ``urgency``, ``sentiment``). :func:`banking77_emails` wraps real customer queries
of Banking77 as emails; only their intent is labelled.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from atomic.apps.inbox._tasks import EmailContent, EmailFacts, Sentiment, Urgency
from atomic.errors import InputValidationError
from atomic.tasks._builtin import Banking77Intent

__all__ = [
    "DEFAULT_BANKING77",
    "EMAILS_FILE",
    "Email",
    "Expected",
    "LabelledEmail",
    "banking77_emails",
    "banking77_examples",
    "default_banking77_path",
    "demo_batch",
    "load_emails",
]

EMAILS_FILE = Path(__file__).with_name("emails.jsonl")

DEFAULT_BANKING77 = 12
"""Banking77 emails the demo adds to the handwritten ones by default."""


class Email(BaseModel):
    """One email in the support inbox: the input of ``handle_email``."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    sender_name: str | None = Field(default=None, max_length=80)
    subject: str = Field(default="", max_length=200)
    body: str = Field(min_length=1, max_length=20_000)

    def content(self) -> EmailContent:
        """What the models see (no id: it would only be noise to them and to retrieval)."""
        return EmailContent(sender_name=self.sender_name, subject=self.subject, body=self.body)


class Expected(BaseModel):
    """The right answers for one email; what is ``None`` is not scored."""

    intent: Banking77Intent
    facts: EmailFacts | None = None
    urgency: Urgency | None = None
    sentiment: Sentiment | None = None


class LabelledEmail(BaseModel):
    email: Email
    expected: Expected
    source: Literal["handwritten", "banking77"]


class _Line(Email):
    expected: Expected


def load_emails(path: Path = EMAILS_FILE) -> list[LabelledEmail]:
    """The handwritten emails, validated; a bad line is an error naming its line number."""
    emails: list[LabelledEmail] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = _Line.model_validate_json(raw)
        except ValidationError as exc:
            raise InputValidationError(
                f"{path}:{number} is not a valid email: {exc.errors()[0]['msg']}",
                errors=[str(e["loc"]) + ": " + e["msg"] for e in exc.errors()],
                hint="each line needs id, subject, body and expected (intent, facts, ...)",
                context={"path": str(path), "line": number},
            ) from exc
        email = Email.model_validate(line.model_dump(exclude={"expected"}))
        emails.append(LabelledEmail(email=email, expected=line.expected, source="handwritten"))
    return emails


def default_banking77_path(split: Literal["test", "train"] = "test") -> Path:
    """``../shared/data/banking77/<split>.csv`` relative to the project root of a checkout."""
    return Path(__file__).resolve().parents[4].parent / f"shared/data/banking77/{split}.csv"


def _read_banking77(path: Path) -> list[tuple[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [(r["text"], r["category"]) for r in csv.DictReader(handle)]
    except OSError as exc:
        raise InputValidationError(
            f"cannot read the Banking77 queries at {path}: {exc.strerror}",
            errors=[str(exc)],
            hint="run from a checkout with ../shared/data next to it, or use only the "
            "handwritten emails",
            context={"path": str(path)},
        ) from exc
    except KeyError as exc:
        raise InputValidationError(
            f"{path} has no {exc} column: it is not a Banking77 CSV",
            errors=[f"missing column {exc}"],
            hint="Banking77's CSVs have the columns text,category",
            context={"path": str(path)},
        ) from exc


def banking77_examples(
    per_intent: int, *, path: Path | None = None, seed: int = 77
) -> list[tuple[str, str]]:
    """``per_intent`` labelled queries of each intent (a seeded sample of ``path``, by default
    Banking77's train split): the history a bank's intent classifier starts from."""
    if per_intent <= 0:
        return []
    rows = _read_banking77(path or default_banking77_path("train"))
    random.Random(seed).shuffle(rows)
    taken: dict[str, int] = {}
    picked = []
    for text, intent in rows:
        if taken.get(intent, 0) < per_intent:
            taken[intent] = taken.get(intent, 0) + 1
            picked.append((text, intent))
    return picked


# Banking77 rows are bare queries; wrapped in a subject, greeting and signature they read as
# the emails the inbox gets. Names and subjects are picked by a seeded generator.
_NAMES = (
    "Alex Morgan", "Priya Nair", "Tomasz Kowalski", "Chloé Martin", "Daniel Okafor",
    "Mei Chen", "Lars Johansson", "Fatima Haddad", "Giulia Rossi", "Sam Taylor",
    "Jonas Weber", "Aisha Bello", "Ruairí Byrne", "Elena Petrova", "Kenji Sato",
)  # fmt: skip
_SUBJECTS = (
    "Question about my account", "Help please", "Card question", "Problem with my account",
    "Quick question", "Need help", "Support request", "Issue with the app",
)  # fmt: skip


def banking77_emails(
    count: int, *, path: Path | None = None, seed: int = 77
) -> list[LabelledEmail]:
    """``count`` Banking77 test queries (a seeded sample) wrapped as emails, labelled with
    their intent."""
    if count <= 0:
        return []
    rows = _read_banking77(path or default_banking77_path())
    rng = random.Random(seed)
    picked = rng.sample(rows, min(count, len(rows)))
    emails = []
    for index, (text, intent) in enumerate(picked):
        name = rng.choice(_NAMES)
        email = Email(
            id=f"b77-{index:04d}",
            sender_name=name,
            subject=rng.choice(_SUBJECTS),
            body=f"Hi,\n\n{text.strip()}\n\nThanks,\n{name}",
        )
        expected = Expected(intent=intent)
        emails.append(LabelledEmail(email=email, expected=expected, source="banking77"))
    return emails


def demo_batch(
    limit: int | None = None,
    *,
    banking77: int = DEFAULT_BANKING77,
    banking77_path: Path | None = None,
    handwritten: Sequence[LabelledEmail] | None = None,
) -> list[LabelledEmail]:
    """The demo's batch: the handwritten emails, then ``banking77`` Banking77 emails; with
    ``limit``, exactly ``limit`` emails (handwritten first, Banking77 for the rest)."""
    written = list(handwritten) if handwritten is not None else load_emails()
    wanted = len(written) + banking77 if limit is None else limit
    batch = written[:wanted]
    if wanted > len(batch):
        batch += banking77_emails(wanted - len(batch), path=banking77_path)
    return batch
