"""The inbox handler: its rules and checks, ``handle_email`` on every runner with models that
answer from the emails' expected values, and the demo's scoring of a batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, get_args

import pytest
from rich.console import Console
from temporalio.client import Client

from atomic import Atomic, AtomicSettings
from atomic.apps.inbox import (
    QUEUE_OF_INTENT,
    ROUTER_ID,
    EmailFacts,
    LabelledEmail,
    decide_route,
    handle_email,
    load_emails,
    open_inbox,
)
from atomic.apps.inbox._demo import run_inbox_demo
from atomic.apps.inbox._rules import FACTS_RULES_ID, REPLY_TEMPLATE_ID, template_reply
from atomic.apps.inbox._tasks import ReplyInput, citable, facts_are_in_the_email, reply
from atomic.models import FunctionModel, ModelRequest, function_card
from atomic.storage import RunStatus
from atomic.tasks._builtin import Banking77Intent, Money
from atomic.workflows import DirectRunner, EmbeddedRunner, TemporalRunner

EMAILS = load_emails()
ORACLE = "fn:oracle"


def test_there_are_at_least_30_handwritten_emails_and_their_expected_facts_pass_the_check() -> None:
    assert len(EMAILS) >= 30
    assert len({e.email.id for e in EMAILS}) == len(EMAILS)
    with_facts = [e for e in EMAILS if e.expected.facts and e.expected.facts.amounts]
    assert len(with_facts) >= 15
    for item in EMAILS:
        assert item.expected.facts is not None, item.email.id
        verdict = facts_are_in_the_email(item.email.content(), item.expected.facts)
        assert verdict.passed, (item.email.id, verdict.reason)


def test_the_facts_check_names_what_the_email_does_not_say() -> None:
    content = EMAILS[0].email.content()  # Sofia Almeida, €89.99, card 4821, Zalando
    invented = EmailFacts(
        card_last_four="9999",
        amounts=[Money(value=89.99, currency="EUR"), Money(value=12.0, currency="EUR")],
        merchant="Amazon",
        dates=[dt.date(2025, 5, 14)],
    )
    verdict = facts_are_in_the_email(content, invented)
    assert not verdict.passed
    assert verdict.reason is not None
    for wrong in ("card_last_four 9999", "amount 12", "merchant 'Amazon'"):
        assert wrong in verdict.reason
    assert "89.99" not in verdict.reason
    assert "2025-05-14" not in verdict.reason


def test_every_intent_has_a_queue_and_the_rules_put_fraud_and_critical_first() -> None:
    assert set(QUEUE_OF_INTENT) == set(get_args(Banking77Intent))
    stolen = decide_route("lost_or_stolen_card", "normal", "neutral")
    assert (stolen.queue, stolen.priority, stolen.sla_hours) == ("fraud", "P2", 4)
    critical = decide_route("card_arrival", "critical", "neutral")
    assert (critical.queue, critical.priority) == ("urgent", "P1")
    angry = decide_route("card_arrival", "normal", "negative")
    assert (angry.queue, angry.priority, angry.sla_hours) == ("cards", "P2", 4)
    calm = decide_route("exchange_rate", "low", "positive")
    assert (calm.queue, calm.priority, calm.sla_hours) == ("general", "P4", 72)
    assert "intent exchange_rate → general" in calm.reason


# -- handle_email with models that know the answers --------------------------------------------


def _email_of(text: str) -> LabelledEmail:
    found = [e for e in EMAILS if e.email.body in text]
    assert len(found) == 1, text[:80]
    return found[0]


def _reply_for(data: dict[str, Any]) -> str:
    facts = EmailFacts.model_validate(data["facts"])
    cited = f"card ending {facts.card_last_four}" if facts.card_last_four else "your request"
    return (
        f"Dear {data['customer_name'] or 'customer'}, thank you for writing about {cited}. "
        f"Our {data['queue']} team will answer within {data['sla_hours']} hours."
    )


Answer = Callable[[str, dict[str, Any]], Any]


def oracle_answer(task: str, data: dict[str, Any]) -> Any:
    """What a perfect model answers for each inbox task, from the expected values."""
    if task == "reply":
        return {"text": _reply_for(data)}
    text = data.get("text") or f"{data.get('subject')}\n\n{data.get('body')}"
    expected = _email_of(text).expected
    if task == "banking77-intent":
        return {"label": expected.intent}
    if task == "email-facts":
        assert expected.facts is not None
        return expected.facts.model_dump(mode="json")
    return {"label": getattr(expected, task)}


def answering(answer: Answer, model_id: str = ORACLE) -> FunctionModel:
    def invoke(request: ModelRequest) -> Any:
        assert request.output is not None
        return answer(request.output.name, request.task_input or {})

    return FunctionModel(invoke, card=function_card(model_id))


OpenInbox = Callable[..., Any]


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[OpenInbox]:
    """Opens the inbox's Atomic with ``model`` as its one LLM-like bidder (plus the router,
    and the fact rules and reply template when asked for)."""
    opened: list[Atomic] = []

    async def open_with(model: FunctionModel, *, rules: bool = False) -> Atomic:
        settings = AtomicSettings(home=tmp_path, local_models=[], learned_models=False)
        atomic = await open_inbox(
            settings, models=[model], seed=0, fact_rules=rules, reply_rules=rules
        )
        opened.append(atomic)
        return atomic

    yield open_with
    for atomic in opened:
        await atomic.aclose()


def wrong_facts_and_an_echo(task: str, data: dict[str, Any]) -> Any:
    if task == "email-facts":  # a card number the email never mentions
        return {"card_last_four": "0000", "merchant": "Zalando"}
    if task == "reply":  # the customer's own email, sent back
        return {"text": data["body"]}
    return oracle_answer(task, data)


@pytest.mark.parametrize("runner", ["direct", "embedded", "temporal"])
async def test_handle_email_runs_every_step_through_the_exchange_on_each_runner(
    runner: str,
    inbox: OpenInbox,
    temporal_client: Client,
    request: pytest.FixtureRequest,
) -> None:
    atomic: Atomic = await inbox(answering(oracle_answer))
    item = EMAILS[0]
    expected = item.expected
    assert expected.urgency is not None
    assert expected.sentiment is not None
    if runner == "direct":
        handled = await DirectRunner(atomic).run(handle_email, item.email)
    elif runner == "embedded":
        async with EmbeddedRunner(atomic, [handle_email]) as embedded:
            handled = await embedded.run(handle_email, item.email)
    else:
        queue = f"inbox-{request.node.name}"
        async with TemporalRunner(
            atomic, temporal_client, task_queue=queue, workflows=[handle_email]
        ) as temporal:
            handled = await temporal.run(handle_email, item.email)

    assert handled.email_id == item.email.id
    assert handled.intent == expected.intent
    assert handled.facts == expected.facts
    assert (handled.urgency, handled.sentiment) == (expected.urgency, expected.sentiment)
    assert handled.route == decide_route(expected.intent, expected.urgency, expected.sentiment)
    assert handled.reply is not None
    assert "card ending 4821" in handled.reply
    assert list(handled.steps) == ["intent", "facts", "urgency", "sentiment", "route", "reply"]
    for name, trace in handled.steps.items():
        assert trace.error is None, name
        assert trace.run_id is not None
        run = await atomic.get_run(trace.run_id)
        assert run.status is RunStatus.SUCCEEDED
        assert run.task_name == trace.task
        assert run.model_id == trace.model_id == (ROUTER_ID if name == "route" else ORACLE)
    reply_run = await atomic.get_run(handled.steps["reply"].run_id or "")
    assert reply_run.input is not None
    assert reply_run.input["facts"]["card_last_four"] == "4821"  # the facts reached the reply
    assert reply_run.input["queue"] == handled.route.queue


async def test_steps_that_fail_their_checks_leave_the_email_routed_without_them(
    inbox: OpenInbox,
) -> None:
    atomic: Atomic = await inbox(answering(wrong_facts_and_an_echo))
    item = EMAILS[0]
    handled = await DirectRunner(atomic).run(handle_email, item.email)

    assert handled.facts == EmailFacts()
    assert handled.reply is None
    assert handled.intent == item.expected.intent
    assert handled.route.queue == "disputes"
    facts, drafted = handled.steps["facts"], handled.steps["reply"]
    assert facts.error is not None
    assert "card_last_four 0000" in facts.error
    assert drafted.error is not None
    assert "copies the customer's email" in drafted.error
    for trace in (facts, drafted):
        assert trace.run_id is not None
        run = await atomic.get_run(trace.run_id)
        assert run.status is RunStatus.FAILED
        # Re-asked; the same wrong answer again ended it.
        assert [a.raw_output for a in run.attempts] == [run.attempts[0].raw_output] * 2
    # The reply was still asked for, with the sender's name and no invented facts.
    reply_input = (await atomic.get_run(drafted.run_id or "")).input
    assert reply_input is not None
    assert reply_input["customer_name"] == item.email.sender_name
    assert reply_input["facts"] == EmailFacts().model_dump(mode="json")


async def test_steps_the_winner_gets_wrong_cascade_to_the_rules(inbox: OpenInbox) -> None:
    atomic: Atomic = await inbox(answering(wrong_facts_and_an_echo), rules=True)
    item = EMAILS[0]
    handled = await DirectRunner(atomic).run(handle_email, item.email)

    assert handled.facts == item.expected.facts
    assert handled.reply == template_reply(
        ReplyInput(
            customer_name="Sofia Almeida",
            subject=item.email.subject,
            body=item.email.body,
            intent=handled.intent,
            queue=handled.route.queue,
            sla_hours=handled.route.sla_hours,
            facts=handled.facts,
        )
    )
    for name, rules_id in (("facts", FACTS_RULES_ID), ("reply", REPLY_TEMPLATE_ID)):
        trace = handled.steps[name]
        assert trace.model_id == rules_id
        run = await atomic.get_run(trace.run_id or "")
        models = [a.model_id for a in run.attempts]
        # Whichever won the auction, the oracle's every attempt failed before the rules
        # answered, once.
        assert models[-1] == rules_id
        assert models.count(rules_id) == 1
        assert not any(a.ok for a in run.attempts[:-1])
        assert run.attempts[-1].ok


def test_the_template_reply_cites_the_facts_and_passes_the_reply_checks() -> None:
    for item in EMAILS:
        assert item.expected.facts is not None
        assert item.expected.urgency is not None
        assert item.expected.sentiment is not None
        routed = decide_route(item.expected.intent, item.expected.urgency, item.expected.sentiment)
        request = ReplyInput(
            customer_name=item.email.sender_name,
            subject=item.email.subject,
            body=item.email.body,
            intent=item.expected.intent,
            queue=routed.queue,
            sla_hours=routed.sla_hours,
            facts=item.expected.facts,
        )
        text = template_reply(request)
        reply.schema.validate({"text": text})
        assert all(result.passed for result in reply.run_checks(request, text)), item.email.id
        assert f"within {routed.sla_hours} hour" in text
        for fact in citable(item.expected.facts):
            assert fact in text


async def test_the_demo_scores_every_step_against_the_expected_answers(tmp_path: Path) -> None:
    batch = EMAILS[:4]
    wrong_intent = batch[1].email.body

    def one_wrong_intent(task: str, data: dict[str, Any]) -> Any:
        if task == "banking77-intent" and wrong_intent in data["text"]:
            return {"label": "exchange_rate"}
        return oracle_answer(task, data)

    console = Console(record=True, width=220)
    settings = AtomicSettings(home=tmp_path, local_models=[], learned_models=False)
    report = await run_inbox_demo(
        settings,
        console,
        emails=batch,
        models=[answering(one_wrong_intent)],
        runner="direct",
        feedback=True,
        seed_per_intent=0,
    )
    steps = report.score.steps
    assert report.score.handled == 4
    assert report.score.failed == 0
    assert (steps["intent"].correct, steps["intent"].scored) == (3, 4)
    assert (steps["urgency"].correct, steps["sentiment"].correct) == (4, 4)
    # The wrong intent sends its email to the wrong queue: routing is scored end to end.
    assert (steps["route"].correct, steps["route"].scored) == (3, 4)
    assert report.score.facts_total.precision == report.score.facts_total.recall == 1.0
    assert report.score.facts_exact == 4
    assert steps["intent"].shares() == [(ORACLE, 1.0)]
    assert steps["route"].shares() == [(ROUTER_ID, 1.0)]
    assert report.emails_per_minute > 0
    shown = console.export_text()
    assert "75% (3/4)" in shown
    assert "atomic explain" in shown
    assert "emails per minute" in shown

    # With --feedback the expected labels went back as ground truth: the wrong intent was
    # corrected, the right ones confirmed, and all four are in the task's memory.
    async with await open_inbox(settings, models=[answering(oracle_answer)]) as atomic:
        runs = await atomic.list_runs(limit=50, task="banking77-intent")
        feedback = {r.input["text"]: await atomic.store.list_feedback(r.id) for r in runs}
        memory = await atomic.store.load_memory()
        status = await atomic.task_status("banking77-intent")
    kinds = {text: [f.kind for f in given] for text, given in feedback.items()}
    assert sorted(kinds.values()) == [["correct"], ["correct"], ["correct"], ["corrected"]]
    corrected = next(given[0] for text, given in feedback.items() if wrong_intent in text)
    assert (corrected.output, corrected.source) == (batch[1].expected.intent, "ground_truth")
    remembered = {m.output for m in memory if m.task_name == "banking77-intent"}
    assert remembered == {e.expected.intent for e in batch}
    assert status.memory_size == 4


async def test_the_demo_seeds_the_intent_memory_from_labelled_queries(tmp_path: Path) -> None:
    seeds = tmp_path / "train.csv"
    rows = [("where is my new card", "card_arrival"), ("card still not here", "card_arrival")]
    rows += [
        ("my card was stolen", "lost_or_stolen_card"),
        ("what rate do you use", "exchange_rate"),
    ]
    rows += [("is the card coming soon", "card_arrival")]
    seeds.write_text("text,category\n" + "".join(f"{t},{c}\n" for t, c in rows))
    console = Console(record=True, width=220)
    settings = AtomicSettings(home=tmp_path, local_models=[], learned_models=False)
    await run_inbox_demo(
        settings,
        console,
        emails=EMAILS[:1],
        models=[answering(oracle_answer)],
        runner="direct",
        feedback=False,
        seed_per_intent=2,
        seed_path=seeds,
    )
    assert "with 4 labelled Banking77 training queries (2 per intent)" in console.export_text()
    async with await open_inbox(settings, models=[answering(oracle_answer)]) as atomic:
        memory = await atomic.store.load_memory()
    seeded = sorted((m.text, m.output) for m in memory if m.task_name == "banking77-intent")
    assert len(seeded) == 4
    assert [o for _, o in seeded].count("card_arrival") == 2
    assert {o for _, o in seeded} == {"card_arrival", "lost_or_stolen_card", "exchange_rate"}

    # Outside a checkout, with no Banking77 files, the demo says so and runs on the
    # handwritten emails, unseeded.
    console = Console(record=True, width=220)
    report = await run_inbox_demo(
        settings,
        console,
        limit=40,
        banking77_path=tmp_path / "missing-test.csv",
        models=[answering(oracle_answer)],
        runner="direct",
        seed_per_intent=2,
        seed_path=tmp_path / "missing.csv",
    )
    shown = console.export_text()
    assert report.score.handled == len(EMAILS)
    assert "the intent task starts with an empty memory" in shown
    assert "handling the handwritten emails only" in shown
