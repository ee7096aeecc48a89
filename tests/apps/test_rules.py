"""``rules:inbox-facts``: what the regular expressions read, and that they only state facts
the email states."""

import datetime as dt

import pytest

from atomic.apps.inbox import EmailContent, EmailFacts, load_emails
from atomic.apps.inbox._rules import extract_facts
from atomic.apps.inbox._score import FACT_FIELDS, _fact_values
from atomic.apps.inbox._tasks import facts_are_in_the_email
from atomic.tasks._builtin import Money


def _facts(body: str, sender: str | None = None) -> EmailFacts:
    return extract_facts(EmailContent(sender_name=sender, subject="", body=body))


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("I sent 1,200.00 EUR to my landlord", [Money(value=1200.0, currency="EUR")]),
        ("Abgebucht wurden 1.200,50 EUR", [Money(value=1200.5, currency="EUR")]),
        ("a fee of 2,50 EUR for 100 euros", [Money(value=2.5, currency="EUR"),
                                              Money(value=100.0, currency="EUR")]),
        ("I transferred R$1,500.00 and $20", [Money(value=1500.0, currency="BRL"),
                                              Money(value=20.0, currency="USD")]),
        ("£4.99 then GBP 10 and 7€", [Money(value=4.99, currency="GBP"),
                                      Money(value=10.0, currency="GBP"),
                                      Money(value=7.0, currency="EUR")]),
        ("my card ending 4821 on 14 May 2025, order ZL-55102", []),
    ],
)  # fmt: skip
def test_amounts_need_a_currency_and_read_both_decimal_conventions(
    text: str, amounts: list[Money]
) -> None:
    assert _facts(text).amounts == amounts


def test_dates_cards_references_and_names() -> None:
    facts = _facts(
        "On 14 May 2025 and on September 2, 2025 (not 31 February 2025) I paid at Zalando "
        "with my Visa card ending in 4821. Order number ZL-55102, transaction ID 7F3K92LQ.\n\n"
        "Thanks,\nSofia Almeida"
    )
    assert facts.dates == [dt.date(2025, 5, 14), dt.date(2025, 9, 2)]
    assert facts.card_last_four == "4821"
    assert facts.references == ["ZL-55102", "7F3K92LQ"]
    assert facts.merchant == "Zalando"
    assert facts.customer_name == "Sofia Almeida"
    bare = _facts("How do I order a new card? I am at home.")
    assert bare.model_dump(exclude_defaults=True) == {}


def test_on_the_handwritten_emails_the_rules_state_only_what_the_email_says() -> None:
    right = extracted = expected = 0
    for item in load_emails():
        content = item.email.content()
        facts = extract_facts(content)
        verdict = facts_are_in_the_email(content, facts)
        assert verdict.passed, (item.email.id, verdict.reason)
        assert item.expected.facts is not None
        for name in FACT_FIELDS:
            want, got = _fact_values(item.expected.facts, name), _fact_values(facts, name)
            right, extracted, expected = (
                right + len(want & got),
                extracted + len(got),
                expected + len(want),
            )
    # Measured on the emails the rules were written next to: a floor, not a generalisation.
    assert right / extracted >= 0.95
    assert right / expected >= 0.95
