"""The tasks Atomic ships with: a label, an extraction and a generation task on support mail."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from atomic.tasks._task import Example, Sensitivity, Task, check

__all__ = [
    "BANKING77_INTENTS",
    "BUILTIN_TASKS",
    "Money",
    "SupportMessage",
    "TransactionFacts",
    "banking77_intent",
    "reply_draft",
    "sentiment",
    "transaction_facts",
]

BANKING77_INTENTS: tuple[str, ...] = (
    "activate_my_card",
    "age_limit",
    "apple_pay_or_google_pay",
    "atm_support",
    "automatic_top_up",
    "balance_not_updated_after_bank_transfer",
    "balance_not_updated_after_cheque_or_cash_deposit",
    "beneficiary_not_allowed",
    "cancel_transfer",
    "card_about_to_expire",
    "card_acceptance",
    "card_arrival",
    "card_delivery_estimate",
    "card_linking",
    "card_not_working",
    "card_payment_fee_charged",
    "card_payment_not_recognised",
    "card_payment_wrong_exchange_rate",
    "card_swallowed",
    "cash_withdrawal_charge",
    "cash_withdrawal_not_recognised",
    "change_pin",
    "compromised_card",
    "contactless_not_working",
    "country_support",
    "declined_card_payment",
    "declined_cash_withdrawal",
    "declined_transfer",
    "direct_debit_payment_not_recognised",
    "disposable_card_limits",
    "edit_personal_details",
    "exchange_charge",
    "exchange_rate",
    "exchange_via_app",
    "extra_charge_on_statement",
    "failed_transfer",
    "fiat_currency_support",
    "get_disposable_virtual_card",
    "get_physical_card",
    "getting_spare_card",
    "getting_virtual_card",
    "lost_or_stolen_card",
    "lost_or_stolen_phone",
    "order_physical_card",
    "passcode_forgotten",
    "pending_card_payment",
    "pending_cash_withdrawal",
    "pending_top_up",
    "pending_transfer",
    "pin_blocked",
    "receiving_money",
    "Refund_not_showing_up",
    "request_refund",
    "reverted_card_payment?",
    "supported_cards_and_currencies",
    "terminate_account",
    "top_up_by_bank_transfer_charge",
    "top_up_by_card_charge",
    "top_up_by_cash_or_cheque",
    "top_up_failed",
    "top_up_limits",
    "top_up_reverted",
    "topping_up_by_card",
    "transaction_charged_twice",
    "transfer_fee_charged",
    "transfer_into_account",
    "transfer_not_received_by_recipient",
    "transfer_timing",
    "unable_to_verify_identity",
    "verify_my_identity",
    "verify_source_of_funds",
    "verify_top_up",
    "virtual_card_not_working",
    "visa_or_mastercard",
    "why_verify_identity",
    "wrong_amount_of_cash_received",
    "wrong_exchange_rate_for_cash_withdrawal",
)
"""The 77 intents of Banking77 (Casanueva et al. 2020), spelled as in the data set."""

Banking77Intent: Any = Literal[BANKING77_INTENTS]  # Literal of a tuple is a Literal of each


class SupportMessage(BaseModel):
    """A customer's message to a support inbox."""

    text: str = Field(min_length=1, max_length=20_000, description="The message body.")


class Money(BaseModel):
    value: float = Field(ge=0, le=10_000_000, description="The amount, without the currency.")
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR."
    )


class TransactionFacts(BaseModel):
    """The facts an agent needs from a message about a payment or a card."""

    amount: Money | None = None
    date: dt.date | None = Field(default=None, description="The date the message mentions.")
    card_last_four: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    merchant: str | None = Field(default=None, max_length=80)
    references: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        default_factory=list, max_length=5, description="Transaction or order references."
    )
    urgency: int = Field(ge=1, le=5, description="1: can wait, 5: money is at risk now.")


@check
def amount_is_in_text(message: SupportMessage, facts: TransactionFacts) -> bool | str:
    """the amount must appear in the message"""
    if facts.amount is None:
        return True
    digits = re.sub(r"[^0-9]", "", message.text)
    whole = str(int(facts.amount.value))
    return whole in digits or f"amount {facts.amount.value} does not appear in the message"


@check
def card_digits_are_in_text(message: SupportMessage, facts: TransactionFacts) -> bool | str:
    """the card's last four digits must appear in the message"""
    if facts.card_last_four is None or facts.card_last_four in message.text:
        return True
    return f"card_last_four {facts.card_last_four} does not appear in the message; leave it out"


ReplyText = Annotated[str, StringConstraints(min_length=20, max_length=600, strip_whitespace=True)]


@check
def no_placeholders(message: SupportMessage, reply: str) -> bool | str:
    """the reply must not contain template placeholders"""
    found = re.findall(r"\[[A-Za-z ]+\]|\{\w+\}", reply)
    return not found or f"the reply contains placeholders {found}; write the actual words"


banking77_intent: Task[SupportMessage, Any] = Task(
    "banking77-intent",
    input=SupportMessage,
    output=Banking77Intent,
    instructions=(
        "You route messages sent to an online bank's support team. "
        "Pick the one intent label that best describes what the customer wants."
    ),
    examples=(
        Example(SupportMessage(text="My new card still has not come in the post."), "card_arrival"),
        Example(
            SupportMessage(text="Why was I charged a fee for taking cash out at the ATM?"),
            "cash_withdrawal_charge",
        ),
    ),
    value_usd=0.002,
    max_output_tokens=32,
    description="Banking77 intent of a support message (77 labels).",
)

sentiment: Task[SupportMessage, Any] = Task(
    "sentiment",
    input=SupportMessage,
    output=Literal["positive", "neutral", "negative"],
    instructions="Classify the customer's sentiment in the message.",
    examples=(
        Example(SupportMessage(text="Thanks so much, the transfer arrived!"), "positive"),
        Example(
            SupportMessage(text="This is the third time my card is declined. Awful."), "negative"
        ),
    ),
    value_usd=0.001,
    max_output_tokens=16,
    description="Sentiment of a support message.",
)

transaction_facts: Task[SupportMessage, TransactionFacts] = Task(
    "transaction-facts",
    input=SupportMessage,
    output=TransactionFacts,
    instructions=(
        "Extract the facts of the payment or card problem the customer describes. "
        "Only include facts the message states."
    ),
    examples=(
        Example(
            SupportMessage(
                text="On 2024-03-02 I paid 45.90 EUR at Lidl with my card ending 1234 and "
                "was charged twice! Ref TX-88812."
            ),
            TransactionFacts(
                amount=Money(value=45.90, currency="EUR"),
                date=dt.date(2024, 3, 2),
                card_last_four="1234",
                merchant="Lidl",
                references=["TX-88812"],
                urgency=4,
            ),
        ),
    ),
    checks=(amount_is_in_text, card_digits_are_in_text),
    value_usd=0.01,
    sensitivity=Sensitivity.CONFIDENTIAL,
    max_output_tokens=160,
    description="Amount, date, card digits, merchant, references and urgency of a message.",
)

reply_draft: Task[SupportMessage, str] = Task(
    "reply-draft",
    input=SupportMessage,
    output=ReplyText,
    instructions=(
        "Write a short, polite first reply from the bank's support team to this customer. "
        "Acknowledge the problem and say what happens next. Two or three sentences."
    ),
    checks=(no_placeholders,),
    value_usd=0.005,
    max_output_tokens=160,
    description="A short first reply to a support message.",
)

BUILTIN_TASKS: tuple[Task[Any, Any], ...] = (
    banking77_intent,
    sentiment,
    transaction_facts,
    reply_draft,
)
