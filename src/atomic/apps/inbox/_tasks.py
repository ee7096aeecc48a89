"""The inbox's tasks (facts, urgency, route, reply) and the rules that serve ``route``.

Intent and sentiment reuse the built-in ``banking77-intent`` and ``sentiment`` tasks. The
other four are defined here:

| task | output | served by |
| --- | --- | --- |
| ``email-facts`` | :class:`EmailFacts`, each field optional and in the email | LLMs, rules |
| ``urgency`` | ``low`` / ``normal`` / ``high`` / ``critical`` | LLMs, its learned model |
| ``route`` | :class:`RouteDecision`: queue, priority, SLA, the rules that fired | the rules |
| ``reply`` | a short reply that must cite the facts it was given | LLMs |

The routing rules are :func:`decide_route`, registered as the model ``rules:inbox-router``;
``rules:inbox-facts`` (``_extract.py``) bids on ``email-facts`` with regular expressions.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, StringConstraints, field_validator

from atomic.models import FunctionModel, ModelRequest, function_card
from atomic.tasks import Example, Sensitivity, Task, check
from atomic.tasks._builtin import Banking77Intent, Money, no_placeholders

if TYPE_CHECKING:
    from atomic._client import Atomic
    from atomic.models import Model
    from atomic.settings import AtomicSettings

__all__ = [
    "INBOX_TASKS",
    "QUEUE_OF_INTENT",
    "ROUTER_ID",
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
    "decide_route",
    "email_facts",
    "inbox_router",
    "numbers_in",
    "open_inbox",
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

ROUTER_ID = "rules:inbox-router"


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


# -- route: business rules, not a model's judgement --------------------------------------------

# Space-separated, so the 77 intents read as the short lists they are.
_FAMILIES: dict[str, str] = {
    "fraud": (
        "compromised_card lost_or_stolen_card lost_or_stolen_phone card_payment_not_recognised "
        "cash_withdrawal_not_recognised direct_debit_payment_not_recognised"
    ),
    "disputes": (
        "transaction_charged_twice request_refund Refund_not_showing_up reverted_card_payment? "
        "extra_charge_on_statement card_payment_wrong_exchange_rate wrong_amount_of_cash_received "
        "wrong_exchange_rate_for_cash_withdrawal card_payment_fee_charged cash_withdrawal_charge "
        "transfer_fee_charged exchange_charge top_up_by_bank_transfer_charge top_up_by_card_charge"
    ),
    "cards": (
        "activate_my_card apple_pay_or_google_pay atm_support card_about_to_expire "
        "card_acceptance card_arrival card_delivery_estimate card_linking card_not_working "
        "card_swallowed change_pin contactless_not_working declined_card_payment "
        "declined_cash_withdrawal disposable_card_limits get_disposable_virtual_card "
        "get_physical_card getting_spare_card getting_virtual_card order_physical_card "
        "pending_card_payment pending_cash_withdrawal pin_blocked virtual_card_not_working "
        "visa_or_mastercard"
    ),
    "transfers": (
        "balance_not_updated_after_bank_transfer balance_not_updated_after_cheque_or_cash_deposit "
        "beneficiary_not_allowed cancel_transfer declined_transfer failed_transfer "
        "pending_transfer receiving_money transfer_into_account "
        "transfer_not_received_by_recipient transfer_timing"
    ),
    "top_ups": (
        "automatic_top_up pending_top_up top_up_by_cash_or_cheque top_up_failed top_up_limits "
        "top_up_reverted topping_up_by_card verify_top_up"
    ),
    "account": (
        "age_limit edit_personal_details passcode_forgotten terminate_account "
        "unable_to_verify_identity verify_my_identity verify_source_of_funds why_verify_identity"
    ),
    "general": (
        "country_support exchange_rate exchange_via_app fiat_currency_support "
        "supported_cards_and_currencies"
    ),
}

QUEUE_OF_INTENT: dict[str, str] = {i: q for q, names in _FAMILIES.items() for i in names.split()}
"""The team that owns each of the 77 Banking77 intents."""

_PRIORITY_OF_URGENCY = {"critical": 1, "high": 2, "normal": 3, "low": 4}
_SLA_HOURS = {1: 1, 2: 4, 3: 24, 4: 72}


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


def decide_route(intent: str, urgency: str, sentiment: str) -> RouteDecision:
    """The inbox's routing rules, first match wins for the queue:

    1. an intent that means money may be stolen (lost card, unrecognised payment) → ``fraud``,
       at priority P2 or higher;
    2. urgency ``critical`` → ``urgent``, the desk that answers within the hour;
    3. otherwise the team that owns the intent (:data:`QUEUE_OF_INTENT`).

    Priority follows urgency (critical P1 … low P4), one step higher for a negative customer.
    """
    family = QUEUE_OF_INTENT[intent]
    priority = _PRIORITY_OF_URGENCY[urgency]
    reasons = [f"urgency {urgency} → P{priority}"]
    if sentiment == "negative" and priority > 1:
        priority -= 1
        reasons.append(f"negative sentiment → P{priority}")
    if family == "fraud":
        queue = "fraud"
        reasons.insert(0, f"intent {intent} may mean stolen money → fraud")
        if priority > 2:
            priority = 2
            reasons.append("fraud → at least P2")
    elif urgency == "critical":
        queue = "urgent"
        reasons.insert(0, "critical urgency → urgent desk")
    else:
        queue = family
        reasons.insert(0, f"intent {intent} → {family}")
    return RouteDecision.model_validate(
        {
            "queue": queue,
            "priority": f"P{priority}",
            "sla_hours": _SLA_HOURS[priority],
            "reason": "; ".join(reasons),
        }
    )


def _route_request(request: ModelRequest) -> RouteDecision:
    data = RouteInput.model_validate(request.task_input or {})
    return decide_route(data.intent, data.urgency, data.sentiment)


def inbox_router() -> FunctionModel:
    """``rules:inbox-router``: :func:`decide_route` as a model that serves only ``route``."""
    card = function_card(
        ROUTER_ID,
        tasks=frozenset({"route"}),
        quality_prior=0.99,  # the rules are the policy: right by definition, bar a bug
        description="the inbox's routing rules (atomic.apps.inbox.decide_route)",
    )
    return FunctionModel(_route_request, card=card)


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


async def open_inbox(
    settings: AtomicSettings | None = None,
    *,
    models: Iterable[Model] | None = None,
    seed: int | None = None,
    fact_rules: bool = True,
) -> Atomic:
    """An :class:`~atomic.Atomic` that can run the inbox: its tasks, and its rules models (the
    router, and unless ``fact_rules`` is false the fact extractor) next to ``models`` (by
    default the models the settings register)."""
    from atomic._client import Atomic
    from atomic.apps.inbox._extract import FACTS_RULES_ID, facts_rules
    from atomic.models._registry import default_registry
    from atomic.settings import AtomicSettings

    settings = settings or AtomicSettings()
    chosen = list(models) if models is not None else list(default_registry(settings))
    rules = [(ROUTER_ID, inbox_router), (FACTS_RULES_ID, facts_rules)][: 1 + fact_rules]
    for model_id, make in rules:
        if not any(m.id == model_id for m in chosen):
            chosen.append(make())
    return await Atomic.open(settings, models=chosen, tasks=INBOX_TASKS, seed=seed)
