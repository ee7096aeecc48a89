"""Fixtures shared by the whole test run: each expensive thing starts once per session."""

pytest_plugins = [
    "tests.fixtures.llm",
    "tests.fixtures.postgres",
    "tests.fixtures.openai_server",
    "tests.fixtures.temporal",
    "tests.fixtures.phoenix",
]
