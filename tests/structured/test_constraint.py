"""Schemas as decoding constraints: compiling, the errors, and exactly what each backend admits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from atomic.errors import ConfigError, ConstraintError
from atomic.models import LlamaCppModel
from atomic.settings import ConstraintBackend
from atomic.structured._constraint import (
    CompiledConstraint,
    ConstraintTokenizer,
    accepts,
    closed_objects,
    compile_constraint,
    constraint_engine,
)
from atomic.tasks._builtin import banking77_intent, transaction_facts

pytestmark = pytest.mark.llm

BACKENDS = list(ConstraintBackend)

URGENCY: dict[str, Any] = {
    "type": "object",
    "properties": {"urgency": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["urgency"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def smol_vocab(smollm2: LlamaCppModel) -> ConstraintTokenizer:
    return smollm2.constraint_tokenizer()


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiles_the_builtin_task_schemas(backend: ConstraintBackend) -> None:
    for task in (banking77_intent, transaction_facts):
        compiled = compile_constraint(task.schema.wire_schema, backend)
        assert isinstance(compiled, CompiledConstraint)
        assert compiled.backend is backend
        assert compiled.schema == task.schema.wire_schema
        assert compiled.grammar


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_constraints_are_cached_per_schema(backend: ConstraintBackend) -> None:
    assert compile_constraint(URGENCY, backend) is compile_constraint(dict(URGENCY), backend)
    assert compile_constraint(URGENCY, backend) is compile_constraint(URGENCY, backend.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keys_are_generated_in_the_schemas_property_order(
    smol_vocab: ConstraintTokenizer, backend: ConstraintBackend
) -> None:
    def pair(first: str, second: str) -> dict[str, Any]:
        props = {first: {"type": "integer"}, second: {"type": "integer"}}
        return {"type": "object", "properties": props, "required": [first, second]}

    ab, ba = (
        compile_constraint(pair("a", "b"), backend),
        compile_constraint(pair("b", "a"), backend),
    )
    assert ab is not ba
    assert accepts(ab, '{"a": 1, "b": 2}', smol_vocab)
    assert not accepts(ab, '{"b": 2, "a": 1}', smol_vocab)
    assert accepts(ba, '{"b": 2, "a": 1}', smol_vocab)


@pytest.mark.parametrize(
    ("backend", "schema", "feature"),
    [
        (ConstraintBackend.LLGUIDANCE, {"not": {"type": "string"}}, "not"),
        (
            ConstraintBackend.LLGUIDANCE,
            {"oneOf": [{"type": "integer"}, {"type": "number"}]},
            "oneOf",
        ),
        (ConstraintBackend.GBNF, {"type": "string", "pattern": "[0-9]{4}"}, "Pattern must start"),
        (ConstraintBackend.GBNF, {"type": "string", "pattern": "^(?=a)b$"}, "pattern syntax"),
        (ConstraintBackend.GBNF, {"type": "frobnicate"}, "Unrecognized schema"),
        (ConstraintBackend.GBNF, {"properties": {"a": True}}, "AttributeError"),
        # A long maxLength nests a group per character: llama.cpp's parser would crash.
        (ConstraintBackend.GBNF, {"type": "string", "maxLength": 65535}, "nests 65535 groups"),
    ],
)
def test_a_schema_the_backend_cannot_express_raises_constraint_error(
    backend: ConstraintBackend, schema: dict[str, Any], feature: str
) -> None:
    with pytest.raises(ConstraintError) as caught:
        compile_constraint(schema, backend)
    error = caught.value
    assert error.code == "structured.unsupported_schema"
    assert feature in error.message
    assert backend.value in error.message
    assert error.hint is not None
    assert "falls back to prompt + validation" in error.hint
    assert "ATOMIC_CONSTRAINT_BACKEND" in error.hint
    assert error.context["backend"] == backend.value


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"urgency": 3}', True),
        ('{"urgency":5}', True),
        ('{"urgency": "high"}', False),
        ('{"urgency": 3', False),  # a prefix is not a complete output
        ('{"urgency": 3} and more', False),
        ('{"urgency": 3, "extra": 1}', False),
        ("[3]", False),
    ],
)
def test_accepts_valid_instances_and_rejects_invalid_ones(
    smol_vocab: ConstraintTokenizer, backend: ConstraintBackend, text: str, expected: bool
) -> None:
    assert accepts(compile_constraint(URGENCY, backend), text, smol_vocab) is expected


@pytest.mark.parametrize(
    "text", ['{"urgency": 0}', '{"urgency": 6}', '{"urgency": 1000000000000000}']
)
def test_only_llguidance_enforces_integer_bounds(
    smol_vocab: ConstraintTokenizer, text: str
) -> None:
    # Gemma 3 wrote the last one under llama.cpp's grammar: its converter drops the bounds.
    assert not accepts(compile_constraint(URGENCY, ConstraintBackend.LLGUIDANCE), text, smol_vocab)
    assert accepts(compile_constraint(URGENCY, ConstraintBackend.GBNF), text, smol_vocab)


def test_only_llguidance_admits_indented_json(smol_vocab: ConstraintTokenizer) -> None:
    indented = '{\n  "urgency": 1\n}'
    assert accepts(compile_constraint(URGENCY, ConstraintBackend.LLGUIDANCE), indented, smol_vocab)
    assert not accepts(compile_constraint(URGENCY, ConstraintBackend.GBNF), indented, smol_vocab)


@pytest.mark.parametrize("backend", BACKENDS)
def test_extraction_schema_checks_formats_and_patterns(
    gemma: LlamaCppModel, backend: ConstraintBackend
) -> None:
    vocab = gemma.constraint_tokenizer()
    compiled = compile_constraint(transaction_facts.schema.wire_schema, backend)
    # Both backends fix the key order (schema order for llguidance, required keys first for
    # gbnf), so the instance is written the way each one generates it.
    facts: dict[str, Any] = {
        "amount": {"value": 45.9, "currency": "EUR"},
        "date": "2024-03-02",
        "card_last_four": "1234",
    }
    if backend is ConstraintBackend.GBNF:
        valid = {"urgency": 4, **facts}
    else:
        valid = {**facts, "urgency": 4}
    assert accepts(compiled, json.dumps(valid), vocab)
    for key, bad in (("date", "2024-13-02"), ("card_last_four", "12345")):
        assert not accepts(compiled, json.dumps({**valid, key: bad}), vocab)
    wrong_currency = {**valid, "amount": {"value": 45.9, "currency": "eur"}}
    assert not accepts(compiled, json.dumps(wrong_currency), vocab)


def test_vocabulary_knows_each_models_end_of_turn(
    smol_vocab: ConstraintTokenizer, gemma: LlamaCppModel
) -> None:
    gemma_vocab = gemma.constraint_tokenizer()
    assert gemma_vocab is gemma.constraint_tokenizer()  # built once per model
    end_of_turn = gemma.llama.tokenize(b"<end_of_turn>", add_bos=False, special=True)
    assert end_of_turn[0] in gemma_vocab.eog_tokens
    assert gemma.llama.token_eos() in gemma_vocab.eog_tokens
    assert smol_vocab.llama.token_eos() in smol_vocab.eog_tokens


def test_engines_are_named_by_backend() -> None:
    assert constraint_engine("gbnf").backend is ConstraintBackend.GBNF
    assert constraint_engine(ConstraintBackend.LLGUIDANCE).backend is ConstraintBackend.LLGUIDANCE
    with pytest.raises(ConfigError, match="outlines"):
        constraint_engine("outlines")


def test_generation_closes_open_objects_but_not_their_names_or_all_of() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "properties": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "tags": {"type": "array", "items": {"properties": {"a": {"type": "string"}}}},
            "free": {"type": "object", "additionalProperties": {"type": "integer"}},
            "both": {"allOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]},
        },
        "$defs": {"Money": {"type": "object", "properties": {"v": {"type": "number"}}}},
    }
    closed = closed_objects(schema)
    assert closed["additionalProperties"] is False
    props = closed["properties"]
    assert set(props) == {"properties", "tags", "free", "both"}  # no key was added to the map
    assert props["properties"]["additionalProperties"] is False
    assert props["tags"]["items"]["additionalProperties"] is False
    assert props["free"]["additionalProperties"] == {"type": "integer"}  # an explicit choice stays
    assert all("additionalProperties" not in part for part in props["both"]["allOf"])
    assert closed["$defs"]["Money"]["additionalProperties"] is False
    assert "additionalProperties" not in schema  # the input is not changed
