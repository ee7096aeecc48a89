"""``rules:inbox-facts``: the facts of a support email by regular expressions, as a model.

A bidder like any other on ``email-facts``: instant and free, precise on the patterns banks'
emails use (amounts with a currency symbol or code, ISO and written-out dates, "card ending
1234", labelled or letter-and-digit references, a merchant after "at"/"from"/"to"), blind to
anything phrased otherwise. The exchange weighs it against the LLMs on outcomes and feedback,
as it would any model; its output passes the same checks.

```python
>>> extract_facts(EmailContent(sender_name="Ana Ruiz", body="I paid €12.50 at Lidl, card ending 4821."))
EmailFacts(customer_name='Ana Ruiz', amounts=[Money(value=12.5, currency='EUR')], dates=[], card_last_four='4821', merchant='Lidl', references=[])
```
"""  # noqa: E501

from __future__ import annotations

import calendar
import datetime as dt
import re

from atomic.apps.inbox._tasks import EmailContent, EmailFacts
from atomic.models import FunctionModel, ModelRequest, function_card
from atomic.tasks._builtin import Money

__all__ = ["FACTS_RULES_ID", "extract_facts", "facts_rules"]

FACTS_RULES_ID = "rules:inbox-facts"

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
