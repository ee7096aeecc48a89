"""The dashboard in headless Chromium (Debian's ``chromium``, driven by Playwright) against a
real service with keys: the page loads, a run made through the API reaches the live tape
without a reload, its explanation opens, and another tenant's key never sees it.

Screenshots go to the test's tmp folder; with ``ATOMIC_DASHBOARD_SCREENSHOTS=1`` they are also
copied to ``benchmarks/results/dashboard/``."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from typer.testing import CliRunner

from atomic.cli import app as cli_app
from atomic.exchange import Budget
from atomic.service import create_app
from tests.service.conftest import (
    Calls,
    facts,
    faulty,
    models,
    serve_in_thread,
    settings_for,
    triage,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WAIT_MS = 30_000
"""Generous: the machine is shared, and a slow pass is not a failure."""
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "dashboard"


@dataclass(frozen=True)
class Dashboard:
    url: str
    keys: dict[str, str]
    """Each tenant's key, made before the browser starts (Playwright's sync API holds an event
    loop in this thread, and `atomic keys create` runs one of its own)."""

    def run(self, secret: str, text: str, **options: str) -> str:
        answer = httpx.post(
            f"{self.url}/v1/tasks/triage/runs",
            json={"input": {"text": text}, **options},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        run_id: str = answer.json()["run_id"]
        return run_id

    def feedback(self, secret: str, run_id: str, kind: str) -> None:
        answer = httpx.post(
            f"{self.url}/v1/runs/{run_id}/feedback",
            json={"kind": kind, "source": "ground_truth"},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    home: Path = tmp_path_factory.mktemp("dashboard")
    app = create_app(
        settings_for(home), models=models(Calls()), tasks=[triage, facts, faulty], require_keys=True
    )
    with serve_in_thread(app) as url:
        app.state.atomic.exchange.configure("triage", budget=Budget(amount_usd=0.05), tenant="acme")
        db = f"sqlite:///{home / 'atomic.db'}"
        keys = {tenant: _key(db, tenant) for tenant in ("acme", "other")}
        keys["admin"] = _key(db, "ops", "--admin")
        yield Dashboard(url=url, keys=keys)


def _key(db: str, tenant: str, *args: str) -> str:
    result = CliRunner().invoke(
        cli_app, ["keys", "create", "--tenant", tenant, "--json", "--db", db, *args]
    )
    assert result.exit_code == 0, result.output
    secret: str = json.loads(result.stdout)["secret"]
    return secret


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Screens:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str) -> None:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        if os.environ.get("ATOMIC_DASHBOARD_SCREENSHOTS"):
            RESULTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, RESULTS / path.name)
            print(f"screenshot: {RESULTS / path.name}")


def _open(browser: Browser, url: str, secret: str, how: str = "#") -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}/dashboard{how}key={secret}")
    expect(page.locator("body[data-ready='1']")).to_have_count(1)
    expect(page.locator("#live.on")).to_have_count(1)
    return page


def test_a_run_reaches_the_tape_live_and_opens_its_explanation(
    dashboard: Dashboard, browser: Browser, tmp_path: Path
) -> None:
    screens = Screens(tmp_path / "screenshots")
    acme = dashboard.keys["acme"]
    page = _open(browser, dashboard.url, acme)
    assert "key=" not in page.url  # the key went to sessionStorage, not the history
    expect(page.locator("#charts-missing")).to_be_hidden()

    started = time.monotonic()
    # Pinned: the exchange explores, and the panels' numbers below count rules:triage's runs.
    run_id = dashboard.run(acme, "I was charged twice on my bill", model="rules:triage")
    row = page.locator(f"#tape tr[data-run-id='{run_id}']")
    expect(row).to_be_visible()
    print(f"the run reached the tape {time.monotonic() - started:.2f} s after the API answered")
    expect(row).to_contain_text("triage")
    expect(row).to_contain_text("rules:triage")
    expect(row).to_contain_text("won on")
    dashboard.feedback(acme, run_id, "correct")
    for text in ("a stolen card", "fraud on my account", "where is my parcel"):
        dashboard.feedback(acme, dashboard.run(acme, text, model="rules:triage"), "correct")
    wrong = dashboard.run(acme, "my bill, again", model="backup:any")
    dashboard.feedback(acme, wrong, "incorrect")
    expect(page.locator("#tape tbody tr")).to_have_count(5)
    expect(page.locator("#stats tbody")).to_contain_text("rules:triage")
    expect(page.locator("#stats tbody")).to_contain_text("100.0% (4)")  # correct, of 4 judged
    expect(page.locator("#budgets")).to_contain_text("triage: $0.0010 of $0.0500")
    expect(page.locator("#learning-chart canvas")).to_have_count(1)
    screens.take(page, "dashboard")

    row.click()
    explanation = page.locator("#explanation")
    expect(explanation).to_contain_text(run_id)
    expect(explanation).to_contain_text("Bids")
    expect(explanation).to_contain_text("rules:triage won on")
    page.locator("#whatif-number").fill("0.01")
    page.locator("#whatif-form button").click()
    expect(page.locator("#whatif")).to_contain_text("effective n")
    screens.take(page, "dashboard-explanation")

    # Another tenant's viewer sees its own run arrive, and never acme's.
    other = dashboard.keys["other"]
    theirs = _open(browser, dashboard.url, other, how="?")
    their_run = dashboard.run(other, "my bill")
    expect(theirs.locator(f"#tape tr[data-run-id='{their_run}']")).to_be_visible()
    expect(theirs.locator("#tape tbody tr")).to_have_count(1)
    expect(theirs.locator("#stats tbody tr")).to_have_count(1)
    expect(theirs.locator(f"#tape tr[data-run-id='{run_id}']")).to_have_count(0)
    expect(theirs.locator("#who")).to_contain_text("tenant other")
    screens.take(theirs, "dashboard-other-tenant")


def test_without_a_key_the_page_asks_for_one(dashboard: Dashboard, browser: Browser) -> None:
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{dashboard.url}/dashboard")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("needs an API key")


def test_metrics_need_an_admin_key_when_keys_are_on(dashboard: Dashboard) -> None:
    def scrape(secret: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.get(f"{dashboard.url}/metrics", headers=headers, timeout=30)

    assert scrape(None).status_code == 401
    refused = scrape(dashboard.keys["acme"])
    assert refused.status_code == 403
    assert "admin key" in refused.json()["hint"]
    assert scrape(dashboard.keys["admin"]).status_code == 200
