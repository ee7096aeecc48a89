"""Output schemas as decoding constraints for local models, with two interchangeable backends.

A JSON Schema is compiled once (per backend) into a :class:`CompiledConstraint`; at generation
time it is bound to one model's vocabulary (a :class:`ConstraintTokenizer`) and applied while
sampling, so tokens the schema forbids are never chosen. The two backends:

``llguidance``
    Microsoft's llguidance: ``LLMatcher.grammar_from_json_schema`` compiles the schema, an
    ``LLMatcher`` walks the generated tokens and yields a bitmask of allowed next tokens.
``gbnf``
    llama.cpp's own JSON-schema-to-GBNF converter and its grammar sampler.

The same objects serve the structured-output benchmark. Per backend there is a ``compile`` and an
``accepts`` check; the module-level functions dispatch on the backend::

    from atomic.settings import AtomicSettings, ConstraintBackend
    from atomic.models import builtin_local_model
    from atomic.structured._constraint import accepts, compile_constraint
    from atomic.errors import ConfigError, ConstraintError

    model = builtin_local_model("llamacpp:smollm2-135m-instruct", AtomicSettings())
    await model.load()                       # or model.load_sync() outside an event loop
    tokenizer = model.constraint_tokenizer()  # the model's vocabulary, shared by both backends
    for backend in ConstraintBackend:
        try:
            compiled = compile_constraint(schema, backend)   # cached per (schema, backend)
        except ConstraintError as exc:                      # the backend cannot express it
            print(backend, "unsupported:", exc.message)
            continue
        accepts(compiled, '{"a": 1}', tokenizer)   # True iff the constraint lets exactly
                                                   # this text through, then lets output end

``accepts`` tokenizes ``text`` with the model's own tokenizer (no BOS, no special tokens), feeds
the tokens one by one to the constraint, and finally asks whether end-of-output is allowed. It
never raises for a rejected text; it raises :class:`ConstraintError` only if the compiled
grammar cannot be bound to the vocabulary at all.

What the backends admit, beyond the schema itself (worth knowing when scoring them):

- Both fix the order of an object's keys: llguidance the schema's ``properties`` order, gbnf
  the required keys first, then the optional ones, each in schema order. A valid instance with
  its keys in another order is rejected; reorder it first to measure schema coverage.
- Whitespace: llguidance admits up to 24 whitespace characters between tokens (so indented
  JSON passes); gbnf at most one space after each token. Neither admits it before the value.
- llguidance is strict: a keyword it does not implement fails the compile. The gbnf converter
  ignores what it does not implement (``minimum``/``maximum``, ``multipleOf``, most formats),
  so it compiles more schemas and admits some invalid instances.

Generation compiles :func:`closed_objects` of the output schema (no invented keys); ``compile``
and ``accepts`` take the schema as given.
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from atomic.errors import ConfigError, ConstraintError
from atomic.settings import ConstraintBackend

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "CompiledConstraint",
    "ConstraintEngine",
    "ConstraintTokenizer",
    "accepts",
    "closed_objects",
    "compile_constraint",
    "constraint_engine",
    "schema_key",
]

FALLBACK_HINT = (
    "the call falls back to prompt + validation; or set ATOMIC_CONSTRAINT_BACKEND to the other "
    "backend (llguidance or gbnf)"
)


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "prefixItems")
# Not "not", "if"/"then"/"else" or "contains": closing an object there would not just drop
# invented keys, it could let through instances the schema forbids.
_SCHEMA_ONE = ("items", "additionalItems", "additionalProperties")


def closed_objects(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with ``additionalProperties: false`` on every object that leaves it open.

    For generation only: a Pydantic model's schema allows extra keys (Pydantic ignores them),
    and a small model given that freedom invents keys until it runs out of tokens. Closing the
    objects keeps every output the schema accepts minus the extra keys. Objects inside
    ``allOf``, ``not`` and conditionals stay open (closing them changes what they mean).
    """

    def close(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: close(sub) for name, sub in value.items()}
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [close(sub) for sub in value]
            elif key in _SCHEMA_ONE and isinstance(value, dict):
                out[key] = close(value)
            else:
                out[key] = value
        is_object = out.get("type") == "object" or (
            "type" not in out and isinstance(out.get("properties"), dict)
        )
        if is_object and "properties" in out and "allOf" not in out:
            out.setdefault("additionalProperties", False)
        return out

    closed: dict[str, Any] = close(dict(schema))
    return closed


def schema_key(schema: Mapping[str, Any]) -> str:
    """The compact JSON text of a schema, the key its compiled constraint is cached under.

    Key order is kept, not sorted: both backends generate an object's keys in the order of its
    ``properties``, so two schemas that differ only in that order are different constraints.
    """
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class CompiledConstraint:
    """A schema compiled by one backend; independent of any model, hashable, cheap to keep.

    ``grammar`` is the backend's own text: llguidance's grammar JSON, or GBNF rules.
    """

    backend: ConstraintBackend
    schema_json: str
    grammar: str

    @property
    def schema(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.schema_json)
        return result


@dataclass(eq=False)
class ConstraintTokenizer:
    """One loaded llama.cpp model's vocabulary, as both backends need it.

    Backends keep what they derive from it (llguidance's tokenizer, bound grammars) in
    ``cache``, so a constraint is bound to a vocabulary once, not once per call.
    """

    llama: Llama
    n_vocab: int
    eog_tokens: tuple[int, ...]
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_llama(cls, llama: Llama) -> ConstraintTokenizer:
        """The vocabulary of a loaded ``llama_cpp.Llama``."""
        import llama_cpp

        vocab = llama._model.vocab
        n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        # Every end-of-generation token counts as end of output (Gemma ends a turn with
        # <end_of_turn>, not <eos>); the constraint must allow whichever the model emits.
        eog = tuple(t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t))
        return cls(llama=llama, n_vocab=n_vocab, eog_tokens=eog)

    @property
    def vocab(self) -> Any:
        """The ``llama_vocab_p`` pointer of the model."""
        return self.llama._model.vocab

    def tokenize(self, text: str) -> list[int]:
        """``text`` as the model would write it: no BOS, special tokens read as plain text."""
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """``cache[key]``, built once under the lock."""
        with self.lock:
            if key not in self.cache:
                self.cache[key] = build()
            return self.cache[key]


LogitsProcessor = Callable[[Any, Any], Any]
"""llama-cpp-python's ``logits_processor`` item: ``(input_ids, scores) -> scores``."""


class ConstraintEngine(abc.ABC):
    """One backend: compile a schema, check a text against it, and constrain sampling."""

    backend: ConstraintBackend

    @abc.abstractmethod
    def compile(self, schema: Mapping[str, Any]) -> CompiledConstraint:
        """Compile ``schema``; :class:`ConstraintError` names the feature that failed."""

    @abc.abstractmethod
    def accepts(
        self, compiled: CompiledConstraint, text: str, tokenizer: ConstraintTokenizer
    ) -> bool:
        """Whether the constraint lets exactly ``text`` through and then lets output end."""

    @abc.abstractmethod
    def sampling_kwargs(
        self, compiled: CompiledConstraint, tokenizer: ConstraintTokenizer
    ) -> dict[str, Any]:
        """Keyword arguments for ``Llama.create_completion`` that apply the constraint.

        The result is good for one generation (it may carry per-generation state).
        """

    def _error(self, schema: Mapping[str, Any], what: str) -> ConstraintError:
        return ConstraintError(
            f"the {self.backend.value} backend cannot compile the output schema: {what}",
            hint=FALLBACK_HINT,
            context={
                "backend": self.backend.value,
                "reason": what,
                "schema": schema_key(schema)[:2000],
            },
        )


def constraint_engine(backend: ConstraintBackend | str) -> ConstraintEngine:
    """The engine for ``backend`` (``"llguidance"`` or ``"gbnf"``)."""
    return _engine(_backend(backend))


def _backend(backend: ConstraintBackend | str) -> ConstraintBackend:
    try:
        return ConstraintBackend(backend)
    except ValueError:
        known = ", ".join(b.value for b in ConstraintBackend)
        raise ConfigError(
            f"unknown constraint backend {backend!r}",
            hint=f"use one of: {known} (ATOMIC_CONSTRAINT_BACKEND)",
            context={"backend": str(backend)},
        ) from None


@cache
def _engine(backend: ConstraintBackend) -> ConstraintEngine:
    if backend is ConstraintBackend.LLGUIDANCE:
        from atomic.structured._llguidance import LLGuidanceEngine

        return LLGuidanceEngine()
    from atomic.structured._gbnf import GbnfEngine

    return GbnfEngine()


@lru_cache(maxsize=512)
def _compile_cached(backend: ConstraintBackend, key: str) -> CompiledConstraint:
    return _engine(backend).compile(json.loads(key))


def compile_constraint(
    schema: Mapping[str, Any], backend: ConstraintBackend | str
) -> CompiledConstraint:
    """Compile ``schema`` with ``backend``, cached: a task calling again compiles nothing.

    Raises :class:`ConstraintError` when the backend cannot express the schema (the error is
    not cached, so a failing schema costs a compile each time; callers fall back to prompting).
    """
    return _compile_cached(_backend(backend), schema_key(schema))


def accepts(compiled: CompiledConstraint, text: str, tokenizer: ConstraintTokenizer) -> bool:
    """Whether ``compiled`` lets exactly ``text`` through, token by token, then end of output."""
    return _engine(compiled.backend).accepts(compiled, text, tokenizer)
