"""The inbox's rules, as models that bid like any other: the router, a fact extractor and a
reply template.

| model | task | what it is |
| --- | --- | --- |
| ``rules:inbox-router`` | ``route`` | :func:`decide_route`: the business's routing policy |
| ``rules:inbox-facts`` | ``email-facts`` | :func:`extract_facts`: regular expressions |
| ``rules:inbox-reply`` | ``reply`` | :func:`template_reply`: a fixed first reply |

The fact rules are instant and free, precise on the patterns banks' emails use (amounts with
a currency symbol or code, ISO and written-out dates, "card ending 1234", labelled or
letter-and-digit references, a merchant after "at"/"from"/"to") and blind to anything phrased
otherwise. The template always cites the facts and the SLA, and says nothing else. The
exchange weighs both against the LLMs on outcomes and feedback, as it would any model; their
output passes the same checks.

```python
>>> extract_facts(EmailContent(sender_name="Ana Ruiz", body="I paid €12.50 at Lidl, card ending 4821."))
EmailFacts(customer_name='Ana Ruiz', amounts=[Money(value=12.5, currency='EUR')], dates=[], card_last_four='4821', merchant='Lidl', references=[])
```
"""  # noqa: E501

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from atomic.apps.inbox._tasks import (
    INBOX_TASKS,
    EmailContent,
    EmailFacts,
    ReplyInput,
    RouteDecision,
    RouteInput,
    citable,
)
from atomic.exchange import TaskPolicy, Utility
from atomic.models import FunctionModel, ModelRequest, function_card
from atomic.tasks._builtin import Money, banking77_intent, sentiment

if TYPE_CHECKING:
    from atomic._client import Atomic
    from atomic.models import Model
    from atomic.settings import AtomicSettings

__all__ = [
    "FACTS_RULES_ID",
    "QUEUE_OF_INTENT",
    "REPLY_TEMPLATE_ID",
    "ROUTER_ID",
    "decide_route",
    "extract_facts",
    "facts_rules",
    "inbox_router",
    "open_inbox",
    "reply_template",
    "template_reply",
]

ROUTER_ID = "rules:inbox-router"
FACTS_RULES_ID = "rules:inbox-facts"
REPLY_TEMPLATE_ID = "rules:inbox-reply"

LATENCY_WEIGHT_USD_PER_S = 0.0005
"""What a second of waiting costs the inbox (about $1.80 an hour of an agent's queue): where
the rules and an LLM are as likely to pass the checks, the one that answers at once wins."""


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


# -- facts: regular expressions for what banks' emails say ------------------------------------

_SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD", "R$": "BRL", "¥": "JPY", "₹": "INR"}
_WORDS = {"euro": "EUR", "euros": "EUR", "pound": "GBP", "pounds": "GBP", "dollar": "USD"}
_WORDS |= {"dollars": "USD", "francs": "CHF"}
_CODES = "EUR|GBP|USD|CHF|BRL|JPY|INR|PLN|SEK|NOK|DKK|CZK|HUF|AUD|CAD|NZD|MXN|ZAR|TRY|CNY"
_NUMBER = r"\d{1,3}(?:[,.]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SYMBOL = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_UNIT = rf"{_CODES}|{'|'.join(_WORDS)}"
_AMOUNT = re.compile(
    rf"(?P<sym>{_SYMBOL})\s?(?P<a>{_NUMBER})"
    rf"|(?P<code>{_CODES})\s?(?P<b>{_NUMBER})\b"
    rf"|(?P<c>{_NUMBER})\s?(?:(?P<unit>{_UNIT})\b|(?P<sym2>{_SYMBOL}))",
    re.IGNORECASE,
)

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS |= {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(
    r"\b(?P<iso>\d{4}-\d{2}-\d{2})\b"
    rf"|\b(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m1>{_MONTH})\.?,?\s+(?P<y1>\d{{4}})\b"
    rf"|\b(?P<m2>{_MONTH})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y2>\d{{4}})\b",
    re.IGNORECASE,
)

_CARD = re.compile(
    r"\b(?:card|visa|mastercard)\b[^.!?\n]{0,40}?"
    r"\b(?:ending(?:\s+in)?|ends(?:\s+in)?|last\s+(?:four|4)(?:\s+digits)?(?:\s+are)?)"
    r"\s*:?\s*(?:in\s+)?(?P<digits>\d{4})\b",
    re.IGNORECASE,
)

_LABELLED_REF = re.compile(
    r"\b(?:reference|ref\.?|order(?:\s+number)?|transaction\s+id|transfer\s+id|reservation|"
    r"booking(?:\s+reference)?|mandate\s+reference|invoice)\s*(?:number|no\.?|id|#)?\s*:?\s*"
    r"(?P<ref>[A-Za-z0-9][A-Za-z0-9#/_.-]{2,39})",
    re.IGNORECASE,
)
# Letters and digits mixed, with or without dashes (ZL-55102, 7F3K92LQ): how references look.
_BARE_REF = re.compile(r"\b(?=[A-Z0-9-]*[A-Z])(?=[A-Z0-9-]*\d)[A-Z0-9]+(?:-[A-Z0-9]+)+\b")

_MERCHANT = re.compile(
    r"\b(?:at|from|to|with)\s+(?:an?\s+|the\s+)?"
    r"(?P<name>[A-Z][\w&'.-]*[\w](?:\s+(?:LTD|LLC|GMBH|INC|PLC|SA)\b)?)"
)
# Capitalised words that follow "at"/"from"/"to" but are not merchants.
_NOT_MERCHANTS = {
    "a", "an", "the", "my", "our", "your", "his", "her", "their", "this", "that", "i", "it",
    "atm", "app", "bank", "card", "account", "home", "work", "least", "all", "first", "once",
    *_MONTHS, *(d.lower() for d in calendar.day_name),
}  # fmt: skip


def _amount(number: str) -> float | None:
    # "1,200.00" and "1.200,00" both mean twelve hundred; "2,50" is two and a half.
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?", number):
        number = number.replace(",", "")
    elif re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?", number):
        number = number.replace(".", "").replace(",", ".")
    else:
        number = number.replace(",", ".")
    try:
        return float(number)
    except ValueError:
        return None


def _amounts(text: str) -> list[Money]:
    found: list[Money] = []
    for match in _AMOUNT.finditer(text):
        groups = match.groupdict()
        number = groups["a"] or groups["b"] or groups["c"]
        symbol = groups["sym"] or groups["sym2"]
        if symbol:
            currency = _SYMBOLS[symbol.upper()]
        elif groups["code"]:
            currency = groups["code"].upper()
        else:
            unit = (groups["unit"] or "").lower()
            currency = _WORDS.get(unit, unit.upper())
        value = _amount(number)
        money = Money(value=value, currency=currency) if value is not None else None
        if money is not None and money not in found:
            found.append(money)
    return found[:4]


def _dates(text: str) -> list[dt.date]:
    found: list[dt.date] = []
    for match in _DATE.finditer(text):
        g = match.groupdict()
        try:
            if g["iso"]:
                day = dt.date.fromisoformat(g["iso"])
            else:
                month = _MONTHS[(g["m1"] or g["m2"]).lower()]
                day = dt.date(int(g["y1"] or g["y2"]), month, int(g["d1"] or g["d2"]))
        except ValueError:  # 31 February: not a date
            continue
        if dt.date(2000, 1, 1) <= day <= dt.date(2100, 1, 1) and day not in found:
            found.append(day)
    return found[:4]


def _references(text: str) -> list[str]:
    found: list[str] = []
    candidates = [m.group("ref").rstrip(".-/") for m in _LABELLED_REF.finditer(text)]
    candidates += _BARE_REF.findall(text)
    for ref in candidates:
        # A reference has a digit; "order for" or "reference is" are words, not references.
        if len(ref) >= 3 and any(c.isdigit() for c in ref) and ref not in found:
            found.append(ref)
    return found[:5]


def _merchant(text: str) -> str | None:
    for match in _MERCHANT.finditer(text):
        name = match.group("name").rstrip(".")
        if name.lower() not in _NOT_MERCHANTS and len(name) >= 2:
            return name
    return None


def _customer_name(content: EmailContent) -> str | None:
    if content.sender_name and len(content.sender_name) >= 2:
        return content.sender_name
    # A signature: the last line, two or three capitalised words.
    last = content.body.strip().splitlines()[-1].strip() if content.body.strip() else ""
    if re.fullmatch(r"[A-Z][\w'-]+(?: [A-Z][\w'-]+){1,2}", last):
        return last
    return None


def extract_facts(content: EmailContent) -> EmailFacts:
    """The facts ``content`` states in the patterns the rules know; nothing else."""
    text = content.text
    card = _CARD.search(text)
    return EmailFacts(
        customer_name=_customer_name(content),
        amounts=_amounts(text),
        dates=_dates(text),
        card_last_four=card.group("digits") if card else None,
        merchant=_merchant(content.body),
        references=_references(text),
    )


def _serve(request: ModelRequest) -> EmailFacts:
    return extract_facts(EmailContent.model_validate(request.task_input or {}))


def facts_rules() -> FunctionModel:
    """``rules:inbox-facts``: :func:`extract_facts` as a model that serves only ``email-facts``."""
    card = function_card(
        FACTS_RULES_ID,
        tasks=frozenset({"email-facts"}),
        quality_prior=0.6,  # precise on what it knows, blind to the rest: learn the real rate
        description="regular expressions for amounts, dates, card digits, merchant, references",
    )
    return FunctionModel(_serve, card=card)


# -- reply: the template a bank sends when nobody writes a better one -----------------------------

_TEAMS = {
    "fraud": "fraud team",
    "urgent": "urgent-response desk",
    "disputes": "disputes team",
    "cards": "cards team",
    "transfers": "payments team",
    "top_ups": "top-ups team",
    "account": "accounts team",
    "general": "support team",
}


def template_reply(request: ReplyInput) -> str:
    """A first reply that names the customer, cites what they told us, and says who answers
    by when. It never guesses: what it cites are the facts it was given."""
    greeting = f"Dear {request.customer_name}," if request.customer_name else "Hello,"
    about = f' about "{request.subject}"' if request.subject else ""
    cited = citable(request.facts)
    noted = f" We have noted {', '.join(cited)}." if cited else ""
    hours = f"{request.sla_hours} hour{'s' if request.sla_hours != 1 else ''}"
    return (
        f"{greeting} thank you for your message{about}.{noted} Our {_TEAMS[request.queue]} "
        f"has your request and will get back to you within {hours}."
    )


def _reply_request(request: ModelRequest) -> dict[str, str]:
    return {"text": template_reply(ReplyInput.model_validate(request.task_input or {}))}


def reply_template() -> FunctionModel:
    """``rules:inbox-reply``: :func:`template_reply` as a model that serves only ``reply``."""
    card = function_card(
        REPLY_TEMPLATE_ID,
        tasks=frozenset({"reply"}),
        quality_prior=0.5,  # always valid, never insightful: feedback decides if it is enough
        description="a fixed first reply citing the facts and the SLA",
    )
    return FunctionModel(_reply_request, card=card)


async def open_inbox(
    settings: AtomicSettings | None = None,
    *,
    models: Iterable[Model] | None = None,
    seed: int | None = None,
    fact_rules: bool = True,
    reply_rules: bool = True,
) -> Atomic:
    """An :class:`~atomic.Atomic` that can run the inbox: its tasks, and its rules models (the
    router; the fact extractor and the reply template unless ``fact_rules`` or
    ``reply_rules`` is false) next to ``models`` (by default the models the settings
    register)."""
    from atomic._client import Atomic
    from atomic.models._registry import default_registry
    from atomic.settings import AtomicSettings

    settings = settings or AtomicSettings()
    chosen = list(models) if models is not None else list(default_registry(settings))
    rules = [(ROUTER_ID, inbox_router)]
    if fact_rules:
        rules.append((FACTS_RULES_ID, facts_rules))
    if reply_rules:
        rules.append((REPLY_TEMPLATE_ID, reply_template))
    for model_id, make in rules:
        if not any(m.id == model_id for m in chosen):
            chosen.append(make())
    atomic = await Atomic.open(settings, models=chosen, tasks=INBOX_TASKS, seed=seed)
    # Every step of the handler keeps the inbox's agents waiting, the built-in tasks it calls
    # (intent, sentiment) as much as its own.
    for task in (*INBOX_TASKS, banking77_intent, sentiment):
        atomic.exchange.configure(
            task.name, TaskPolicy(objective=Utility(latency_weight=LATENCY_WEIGHT_USD_PER_S))
        )
    return atomic
