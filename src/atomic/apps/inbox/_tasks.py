"""The inbox's tasks (facts, urgency, route, reply) and the rules that serve ``route``.

Intent and sentiment reuse the built-in ``banking77-intent`` and ``sentiment`` tasks. The
other four are defined here:

| task | output | served by |
| --- | --- | --- |
| ``email-facts`` | :class:`EmailFacts`, each field optional and in the email | LLMs, rules |
| ``urgency`` | ``low`` / ``normal`` / ``high`` / ``critical`` | LLMs, its learned model |
| ``route`` | :class:`RouteDecision`: queue, priority, SLA, the rules that fired | the rules |
| ``reply`` | a short reply that must cite the facts it was given | LLMs, a template |

The rules models that bid next to the LLMs (the router, regular expressions for the facts, a
reply template) are in ``_rules.py``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, StringConstraints, field_validator

from atomic.tasks import Example, Sensitivity, Task, check
from atomic.tasks._builtin import Banking77Intent, Money, no_placeholders

if TYPE_CHECKING:
    pass

__all__ = [
    "INBOX_TASKS",
    "URGENCY_LEVELS",
    "EmailContent",
    "EmailFacts",
    "Priority",
    "Queue",
    "ReplyInput",
    "RouteDecision",
    "RouteInput",
    "Sentiment",
    "Urgency",
    "citable",
    "email_facts",
    "numbers_in",
    "reply",
    "route",
    "urgency",
]

Urgency = Literal["low", "normal", "high", "critical"]
URGENCY_LEVELS: tuple[str, ...] = get_args(Urgency)
Sentiment = Literal["positive", "neutral", "negative"]
Queue = Literal[
    "fraud", "urgent", "disputes", "cards", "transfers", "top_ups", "account", "general"
]
Priority = Literal["P1", "P2", "P3", "P4"]


class EmailContent(BaseModel):
    """What a model sees of an email: who wrote it, the subject and the body."""

    sender_name: str | None = Field(default=None, max_length=80)
    subject: str = Field(default="", max_length=200)
    body: str = Field(min_length=1, max_length=20_000)

    @property
    def text(self) -> str:
        """Subject and body as one message (what the single-text tasks read)."""
        return f"{self.subject}\n\n{self.body}" if self.subject else self.body


Reference = Annotated[
    str,
    StringConstraints(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9#/_.-]*$"),
]


class EmailFacts(BaseModel):
    """The facts an agent needs from a support email; each one only if the email states it."""

    customer_name: str | None = Field(
        default=None, min_length=2, max_length=80, description="The customer's full name."
    )
    amounts: list[Money] = Field(
        default_factory=list, max_length=4, description="Amounts of money the email mentions."
    )
    dates: list[dt.date] = Field(
        default_factory=list, max_length=4, description="Dates the email states, YYYY-MM-DD."
    )
    card_last_four: str | None = Field(
        default=None, pattern=r"^[0-9]{4}$", description="Last four digits of the card."
    )
    merchant: str | None = Field(
        default=None, min_length=2, max_length=80, description="The shop or company paid."
    )
    references: list[Reference] = Field(
        default_factory=list, max_length=5, description="Transaction or order references."
    )

    @field_validator("dates")
    @classmethod
    def _plausible(cls, dates: list[dt.date]) -> list[dt.date]:
        for day in dates:
            if not dt.date(2000, 1, 1) <= day <= dt.date(2100, 1, 1):
                raise ValueError(f"{day} is not a plausible date for a banking email")
        return dates


# -- checks: every extracted fact must be written in the email ----------------------------------

_NUMBER = re.compile(r"\d(?:[\d.,']*\d)?")


def numbers_in(text: str) -> set[float]:
    """Every number written in ``text``, read both as ``1,234.56`` and as ``1.234,56``."""
    found: set[float] = set()
    for raw in _NUMBER.findall(text.replace("'", "")):
        for decimal, grouping in ((".", ","), (",", ".")):
            plain = raw.replace(grouping, "")
            if plain.count(decimal) <= 1:
                found.add(float(plain.replace(decimal, ".")))
    return found


def _mentions(text: str, value: float) -> bool:
    return any(abs(n - value) < 0.005 for n in numbers_in(text))


def _date_in(text: str, day: dt.date) -> bool:
    numbers = numbers_in(text)
    lowered = text.lower()
    month_named = any(
        name.lower() in lowered
        for name in (calendar.month_name[day.month], calendar.month_abbr[day.month])
    )
    return day.day in numbers and (day.month in numbers or month_named)


@check
def facts_are_in_the_email(email: EmailContent, facts: EmailFacts) -> bool | str:
    """every extracted fact must be written in the email"""
    text = f"{email.sender_name or ''}\n{email.text}"
    lowered = text.lower()
    wrong: list[str] = []
    wrong += [f"amount {m.value:g}" for m in facts.amounts if not _mentions(text, m.value)]
    wrong += [f"date {d.isoformat()}" for d in facts.dates if not _date_in(text, d)]
    if facts.card_last_four is not None and facts.card_last_four not in text:
        wrong.append(f"card_last_four {facts.card_last_four}")
    wrong += [f"reference {r}" for r in facts.references if r.lower() not in lowered]
    if facts.merchant is not None and facts.merchant.lower() not in lowered:
        wrong.append(f"merchant {facts.merchant!r}")
    name = facts.customer_name
    if name is not None and not all(part in lowered for part in name.lower().split()):
        wrong.append(f"customer_name {name!r}")
    if not wrong:
        return True
    return f"not written in the email: {', '.join(wrong)}; leave out what the email does not state"


email_facts: Task[EmailContent, EmailFacts] = Task(
    "email-facts",
    input=EmailContent,
    output=EmailFacts,
    instructions=(
        "Extract the facts of the customer's banking problem from this support email: the "
        "customer's name, the amounts of money (with the ISO currency code), the dates "
        "(YYYY-MM-DD), the card's last four digits, the merchant, and transaction or order "
        "references. Only include facts the email states; leave the rest out."
    ),
    examples=(
        Example(
            EmailContent(
                sender_name="Maria Lopez",
                subject="Charged twice at Lidl",
                body="Hello, on 2024-03-02 I paid 45.90 EUR at Lidl with my card ending 1234 "
                "and was charged twice. Ref TX-88812. Maria Lopez",
            ),
            EmailFacts(
                customer_name="Maria Lopez",
                amounts=[Money(value=45.90, currency="EUR")],
                dates=[dt.date(2024, 3, 2)],
                card_last_four="1234",
                merchant="Lidl",
                references=["TX-88812"],
            ),
        ),
    ),
    checks=(facts_are_in_the_email,),
    value_usd=0.01,
    sensitivity=Sensitivity.CONFIDENTIAL,  # names, card digits and amounts stay on local models
    max_output_tokens=200,
    description="Name, amounts, dates, card digits, merchant and references of an email.",
)

urgency: Task[EmailContent, Any] = Task(
    "urgency",
    input=EmailContent,
    output=Urgency,
    instructions=(
        "How urgent is this banking support email? "
        "critical: money is being lost right now or the customer is locked out of their money "
        "(stolen card, payments they do not recognise, a compromised account). "
        "high: a payment, transfer or top-up failed, is missing or was charged wrongly. "
        "normal: a problem that can wait a day (a card on its way, a pending payment). "
        "low: a question, a request for information, or thanks."
    ),
    examples=(
        Example(
            EmailContent(
                subject="Card stolen",
                body="My wallet was stolen and someone is using my card right now!",
            ),
            "critical",
        ),
        Example(
            EmailContent(subject="Question", body="Which currencies can I hold in the app?"),
            "low",
        ),
    ),
    value_usd=0.002,
    max_output_tokens=16,
    description="How urgent a support email is: low, normal, high or critical.",
)


# -- route: business rules (``_rules.py``), not a model's judgement ---------------------------


class RouteInput(BaseModel):
    """What routing depends on: the classified intent, urgency and sentiment."""

    intent: Banking77Intent
    urgency: Urgency
    sentiment: Sentiment


class RouteDecision(BaseModel):
    """Where an email goes, how soon it must be answered, and which rules decided it."""

    queue: Queue
    priority: Priority
    sla_hours: int = Field(ge=1, le=72)
    reason: str = Field(max_length=300)


route: Task[RouteInput, RouteDecision] = Task(
    "route",
    input=RouteInput,
    output=RouteDecision,
    instructions=(
        "Route a classified support email: pick the queue, the priority (P1 most urgent), the "
        "hours within which it must be answered, and say why."
    ),
    value_usd=0.002,
    max_output_tokens=120,
    description="Queue, priority and SLA of a classified email (rules:inbox-router).",
)


# -- reply: a draft that must cite the facts it was given ---------------------------------------

ReplyText = Annotated[str, StringConstraints(min_length=20, max_length=700, strip_whitespace=True)]


class ReplyInput(BaseModel):
    """The email, what the workflow found out about it, and where it is going."""

    customer_name: str | None = None
    subject: str = ""
    body: str = Field(min_length=1, max_length=20_000)
    intent: Banking77Intent
    queue: Queue
    sla_hours: int = Field(ge=1, le=72)
    facts: EmailFacts = Field(default_factory=EmailFacts)


def citable(facts: EmailFacts) -> list[str]:
    """The facts a reply should mention, as a reader would recognise them."""
    found = [f"the card ending {facts.card_last_four}"] if facts.card_last_four else []
    found += [f"the amount {m.value:g} {m.currency or ''}".rstrip() for m in facts.amounts]
    found += [f"the reference {r}" for r in facts.references]
    return found


def _cites(text: str, facts: EmailFacts) -> bool:
    lowered = text.lower()
    return (
        (facts.card_last_four is not None and facts.card_last_four in text)
        or any(_mentions(text, m.value) for m in facts.amounts)
        or any(r.lower() in lowered for r in facts.references)
    )


@check
def cites_the_facts(request: ReplyInput, text: str) -> bool | str:
    """the reply must mention the card digits, an amount or a reference the customer gave"""
    wanted = citable(request.facts)
    if not wanted or _cites(text, request.facts):
        return True
    return f"the reply must mention at least one of: {'; '.join(wanted)}"


@check
def not_an_echo(request: ReplyInput, text: str) -> bool | str:
    """the reply must answer the email, not repeat it"""
    matcher = difflib.SequenceMatcher(None, request.body.lower(), text.lower(), autojunk=False)
    longest = matcher.find_longest_match(0, len(request.body), 0, len(text)).size
    if longest < 60:
        return True
    return "the reply copies the customer's email; write the bank's answer to it instead"


reply: Task[ReplyInput, str] = Task(
    "reply",
    input=ReplyInput,
    output=ReplyText,
    instructions=(
        "You are the bank's support team. Write a short, polite first reply to the customer "
        "(two to four sentences): greet them by name if known, acknowledge the problem, "
        "mention the card's last four digits, the amount or the reference from `facts` so "
        "they know we read their email, and say which team handles it and within how many "
        "hours (`sla_hours`)."
    ),
    checks=(cites_the_facts, not_an_echo, no_placeholders),
    value_usd=0.005,
    sensitivity=Sensitivity.CONFIDENTIAL,  # it carries the extracted facts
    max_output_tokens=200,
    description="A first reply to a support email that cites the facts it was given.",
)

INBOX_TASKS: tuple[Task[Any, Any], ...] = (email_facts, urgency, route, reply)
