"""atomic.toml: found, parsed, checked, and turned into registered models."""

from __future__ import annotations

from pathlib import Path

import pytest

from atomic.config import load_config
from atomic.errors import ConfigError
from atomic.models import LlamaCppModel, OpenAICompatModel, Residency
from atomic.models._registry import default_registry
from atomic.settings import load_settings

CONFIG = """
[settings]
max_attempts = 5
local_models = []

[tasks]
builtin = false

[[models]]
id = "llamacpp-server:smollm2"
base_url = "http://127.0.0.1:8080/v1"
model = "smollm2"
price = {{ input_per_mtok = 0.1, output_per_mtok = 0.2 }}
context_window = 2048
residency = "on_prem"
region = "eu-west-1"
tasks = ["sentiment"]
request = {{ temperature = 0.2 }}

[[models]]
base_url = "http://127.0.0.1:8080/v1"
model = "qwen"
price = {{ per_call = 0.001 }}

[[models]]
base_url = "https://api.openai.com/v1"
model = "gpt-4o-mini-2024-07-18"
api_key_env = "ATOMIC_TEST_OPENAI_KEY"

[[local]]
id = "llamacpp:mine"
path = "{gguf}"
context_window = 1024
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty environment: no ATOMIC_* variables, a temporary home and working folder."""
    for name in list(__import__("os").environ):
        if name.startswith("ATOMIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ATOMIC_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, text: str) -> Path:
    gguf = folder / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    path = folder / "atomic.toml"
    path.write_text(text.format(gguf=gguf))
    return path


def test_every_declared_model_is_registered_with_its_card(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(env, CONFIG)
    monkeypatch.setenv("ATOMIC_TEST_OPENAI_KEY", "sk-test")
    settings = load_settings()
    assert settings.config == env / "atomic.toml"
    assert settings.max_attempts == 5
    assert settings.builtin_tasks is False
    registry = default_registry(settings)
    assert [m.id for m in registry] == [
        "llamacpp:mine",
        "llamacpp-server:smollm2",
        "openai:qwen",
        "openai:gpt-4o-mini-2024-07-18",
    ]
    server = registry.get("llamacpp-server:smollm2")
    assert isinstance(server, OpenAICompatModel)
    card = server.card
    assert (card.context_window, card.residency, card.region) == (
        2048,
        Residency.ON_PREM,
        "eu-west-1",
    )
    assert (card.price.input_per_mtok, card.price.output_per_mtok) == (0.1, 0.2)
    assert card.tasks == frozenset({"sentiment"})
    assert server.request_defaults == {"temperature": 0.2}
    assert "Authorization" not in server._headers  # loopback: no key needed
    assert registry.get("openai:qwen").card.price.per_call == 0.001
    assert registry.get("openai:qwen").card.residency is Residency.LOCAL
    hosted = registry.get("openai:gpt-4o-mini-2024-07-18")
    assert hosted.card.residency is Residency.CLOUD
    assert hosted.card.price.input_per_mtok == 0.15  # from the dated price table
    assert "read 2026-" in (hosted.card.price.source or "")
    assert isinstance(hosted, OpenAICompatModel)
    assert hosted._headers["Authorization"] == "Bearer sk-test"
    mine = registry.get("llamacpp:mine")
    assert isinstance(mine, LlamaCppModel)
    assert mine.card.context_window == 1024


def test_environment_overrides_the_file(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(env, CONFIG)
    monkeypatch.setenv("ATOMIC_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("ATOMIC_BUILTIN_TASKS", "1")
    settings = load_settings()
    assert (settings.max_attempts, settings.builtin_tasks) == (7, True)


def test_config_is_found_in_atomic_config_then_here_then_home(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().config is None
    home = env / "home"
    home.mkdir()
    (home / "atomic.toml").write_text("[settings]\nmax_attempts = 2\n")
    assert load_settings().max_attempts == 2
    (env / "atomic.toml").write_text("[settings]\nmax_attempts = 4\n")
    assert load_settings().max_attempts == 4
    named = env / "other.toml"
    named.write_text("[settings]\nmax_attempts = 6\n")
    monkeypatch.setenv("ATOMIC_CONFIG", str(named))
    assert load_settings().max_attempts == 6
    monkeypatch.setenv("ATOMIC_CONFIG", str(env / "nope.toml"))
    with pytest.raises(ConfigError, match=r"ATOMIC_CONFIG names .*nope.toml"):
        load_settings()


def test_a_key_in_the_file_is_refused_with_its_line(env: Path) -> None:
    path = write(
        env, '[[models]]\nbase_url = "https://x.example/v1"\nmodel = "m"\napi_key = "sk"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}:4" in caught.value.message
    assert "api_key_env" in (caught.value.hint or "")


def test_a_misspelt_key_names_file_line_and_what_is_wrong(env: Path) -> None:
    path = write(
        env,
        '[[models]]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "a"\n\n'
        '[[models]]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "b"\ncontext_windw = 2048\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}:8: models[1].context_windw is not a key Atomic knows" in caught.value.message


def test_a_bad_value_says_what_would_be_right(env: Path) -> None:
    path = write(env, '[[models]]\nbase_url = "http://h/v1"\nmodel = "m"\nresidency = "moon"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = caught.value.message
    assert f"{path}:4: models[0].residency" in message
    assert "'moon'" in message
    assert "expected one of local, on_prem, cloud" in message


def test_bad_toml_names_the_line(env: Path) -> None:
    path = write(env, "[settings]\nmax_attempts = = 3\n")
    with pytest.raises(ConfigError, match=r"atomic.toml is not valid TOML: .*line 2"):
        load_config(path)


def test_an_unknown_setting_suggests_the_right_one(env: Path) -> None:
    write(env, "[settings]\nmax_attempt = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "atomic.toml:2: settings.max_attempt is not a setting" in caught.value.message
    assert "did you mean max_attempts?" in (caught.value.hint or "")


def test_a_missing_key_variable_is_named(env: Path) -> None:
    write(env, CONFIG)
    with pytest.raises(ConfigError, match="ATOMIC_TEST_OPENAI_KEY, which is not set"):
        default_registry(load_settings())


def test_a_missing_gguf_file_is_named(env: Path) -> None:
    path = env / "atomic.toml"
    path.write_text('[[local]]\nid = "llamacpp:gone"\npath = "~/nowhere/gone.gguf"\n')
    with pytest.raises(ConfigError, match=r"'llamacpp:gone'.*gone.gguf is not a file"):
        default_registry(load_settings())


def test_a_base_url_without_model_names_is_an_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATOMIC_OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    with pytest.raises(ConfigError, match=r"ATOMIC_OPENAI_MODELS is\s+empty"):
        default_registry(load_settings())
    monkeypatch.setenv("ATOMIC_OPENAI_MODELS", "a,b")
    assert [m.id for m in default_registry(load_settings(local_models=[]))] == [
        "openai:a",
        "openai:b",
    ]


def test_the_starter_file_is_valid(env: Path) -> None:
    from atomic.cli._config_cli import starter_text

    path = env / "atomic.toml"
    path.write_text(starter_text())
    assert load_config(path).tasks.builtin is True
    # Its commented examples are valid too, once uncommented.
    lines = [
        line[2:] if line.startswith(("# [[", "# id", "# base_url", "# model", "# path")) else line
        for line in starter_text().splitlines()
    ]
    uncommented = load_config(_write(path, "\n".join(lines)))
    assert [m.model_id for m in uncommented.models] == [
        "llamacpp-server:smollm2",
        "openai:gpt-4o-mini",
    ]
    assert [m.id for m in uncommented.local] == ["llamacpp:qwen2.5-0.5b"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_bad_value_in_the_file_names_its_line_and_the_form(env: Path) -> None:
    write(env, '[settings]\ntenant = "acme"\nmax_attempts = "abc"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.message
    assert f"{env / 'atomic.toml'}:3: settings.max_attempts = 'abc' is not valid" in message
    assert "expected a whole number ≥ 1 and ≤ 10" in message
    assert "ATOMIC_MAX_ATTEMPTS" in (caught.value.hint or "")


async def test_task_policies_and_budgets_reach_the_exchange(env: Path) -> None:
    from atomic import Atomic, FunctionModel
    from atomic.exchange import MaxQuality, MinCost

    write(
        env,
        "[settings]\nlocal_models = []\nlearned_models = false\n\n"
        "[tasks.policy.sentiment]\n"
        'objective = "min_cost"\nfloor = 0.9\nbudget_usd = 1.5\nbudget_window_s = 3600\n\n'
        '[tasks.policy."banking77-intent"]\n'
        'objective = "max_quality"\nmax_cost_usd = 0.01\nmax_cascade = 1\n',
    )
    model = FunctionModel(lambda request: "positive", id="fn:positive")
    async with await Atomic.open(load_settings(), models=[model]) as atomic:
        sentiment = atomic.exchange.policy("sentiment")
        assert sentiment.objective == MinCost(floor=0.9)
        pacer = atomic.exchange.pacer("sentiment")
        assert pacer is not None
        assert (pacer.budget.amount_usd, pacer.budget.window_s) == (1.5, 3600)
        intent = atomic.exchange.policy("banking77-intent")
        assert intent.objective == MaxQuality(max_cost_usd=0.01)
        assert intent.max_cascade == 1


def test_a_policy_key_of_another_objective_names_its_line(env: Path) -> None:
    path = write(env, '[tasks.policy.sentiment]\nobjective = "utility"\nfloor = 0.9\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}:1: tasks.policy.sentiment" in caught.value.message
    assert "floor applies to objective 'min_cost', not 'utility'" in caught.value.message


async def test_a_policy_for_an_unknown_task_is_an_error(env: Path) -> None:
    from atomic import Atomic

    write(env, "[settings]\nlocal_models = []\n\n[tasks.policy.sentimant]\nmax_cascade = 2\n")
    with pytest.raises(ConfigError, match=r"tasks\.policy\.sentimant names a task"):
        await Atomic.open(load_settings(), models=[])


def test_the_starter_policy_example_is_valid(env: Path) -> None:
    from atomic.cli._config_cli import starter_text

    lines = [
        line[2:]
        if line.startswith(("# [tasks.policy", "# objective", "# floor", "# max_c", "# budget"))
        else line
        for line in starter_text().splitlines()
    ]
    path = _write(env / "atomic.toml", "\n".join(lines))
    assert load_config(path).tasks.policy["banking77-intent"].floor == 0.8
