from datetime import date
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from atomic.structured import OutputKind, OutputSchema, ParseFailure, decode, parse_tolerant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Here you go:\n```\n{"a": [1, 2]}\n```\nAnything else?', {"a": [1, 2]}),
        ('Sure! The answer is {"a": 1, "b": "x"} as requested.', {"a": 1, "b": "x"}),
        ('{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [1, 2]}),
        ("{'a': 'single', 'b': true}", {"a": "single", "b": True}),
        ('{"text": "a brace } inside a string"} trailing', {"text": "a brace } inside a string"}),
        ('{"a": {"b": 1}', {"a": {"b": 1}}),
        ("[1, 2, 3] done", [1, 2, 3]),
    ],
)
def test_parse_tolerant_recovers_what_the_model_meant(text: str, expected: object) -> None:
    assert parse_tolerant(text) == expected


def test_parse_tolerant_refuses_text_without_json() -> None:
    with pytest.raises(ParseFailure):
        parse_tolerant("I am not sure what you mean.")


class Facts(BaseModel):
    when: date | None = None
    urgency: int = Field(ge=1, le=5)
    tags: list[str] = Field(default_factory=list, max_length=2)


def test_extraction_schema_validates_bounds_and_dates() -> None:
    schema = OutputSchema.of(Facts)
    assert schema.kind is OutputKind.EXTRACTION
    assert schema.wrap_key is None
    good = decode(schema, '{"when": "2024-05-14", "urgency": 3}')
    assert good.ok
    assert good.value == Facts(when=date(2024, 5, 14), urgency=3)
    bad = decode(schema, '{"urgency": 1000000000000000, "tags": ["a", "b", "c"]}')
    assert not bad.ok
    assert bad.value is None
    assert any(e.startswith("urgency: Input should be less than or equal to 5") for e in bad.errors)
    assert any(e.startswith("tags:") for e in bad.errors)


def test_label_schema_is_wrapped_and_accepts_bare_labels() -> None:
    schema = OutputSchema.of(Literal["positive", "negative"])
    assert schema.kind is OutputKind.LABEL
    assert schema.wire_schema["required"] == ["label"]
    assert schema.labels == ["positive", "negative"]
    assert decode(schema, '{"label": "negative"}').value == "negative"
    assert decode(schema, "Positive.").value == "positive"
    assert decode(schema, '"negative"').value == "negative"
    wrong = decode(schema, '{"label": "angry"}')
    assert not wrong.ok
    assert "label" not in wrong.errors[0].split(":")[0]  # the path is the value, not the wrapper


def test_generation_schema_bounds_length() -> None:
    from typing import Annotated

    from pydantic import StringConstraints

    schema = OutputSchema.of(Annotated[str, StringConstraints(max_length=10)])
    assert schema.kind is OutputKind.GENERATION
    assert schema.wire_schema["properties"]["text"]["maxLength"] == 10
    assert decode(schema, '{"text": "short"}').value == "short"
    assert decode(schema, "plain words").ok is False  # 11 characters
    assert decode(schema, "plain").value == "plain"
