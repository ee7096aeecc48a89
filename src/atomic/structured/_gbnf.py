"""The gbnf backend: llama.cpp's own JSON-schema-to-grammar converter and grammar sampler."""

from __future__ import annotations

import ctypes
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from atomic.settings import ConstraintBackend
from atomic.structured._constraint import (
    CompiledConstraint,
    ConstraintEngine,
    ConstraintTokenizer,
    schema_key,
)

__all__ = ["MAX_NESTING", "GbnfEngine", "nesting_depth"]

MAX_NESTING = 2000
"""Deepest group nesting handed to llama.cpp: it refused 4,000 and crashed the process at 32,767."""

_LITERALS = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]')


def nesting_depth(gbnf: str) -> int:
    """How deep ``(...)`` groups nest in a GBNF text (string literals and classes ignored)."""
    code = np.frombuffer(_LITERALS.sub("", gbnf).encode("utf-8"), dtype=np.uint8)
    steps = (code == ord("(")).astype(np.int32) - (code == ord(")")).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


class GbnfEngine(ConstraintEngine):
    """``json_schema_to_gbnf`` to compile; ``llama_sampler_init_grammar`` to apply and check.

    The converter ignores what it does not implement (``minimum``/``maximum``, ``multipleOf``,
    most ``format`` values), so its grammar can be looser than the schema; it fails outright on
    unanchored or look-around ``pattern``s, unknown types and remote ``$ref``s. Grammars that
    nest deeper than :data:`MAX_NESTING` (a ``maxLength`` of thousands) are refused here,
    because llama.cpp's parser crashes the process on them.
    """

    backend = ConstraintBackend.GBNF

    def compile(self, schema: Mapping[str, Any]) -> CompiledConstraint:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        try:
            gbnf = json_schema_to_gbnf(json.dumps(dict(schema)))
        except RecursionError as exc:
            raise self._error(schema, "recursive schema too deep for the converter") from exc
        # The converter reports what it cannot express with assert, ValueError and KeyError,
        # and trips over some valid schemas (``true`` as a subschema) with AttributeError: any
        # exception from it means this schema has no GBNF.
        except Exception as exc:
            raise self._error(schema, f"{type(exc).__name__}: {exc}") from exc
        depth = nesting_depth(gbnf)
        if depth > MAX_NESTING:
            raise self._error(
                schema,
                f"the GBNF grammar nests {depth} groups deep (a large maxLength, maxItems or "
                f"repetition count); llama.cpp's grammar parser overflows its stack past a few "
                f"thousand, so {MAX_NESTING} is the limit",
            )
        return CompiledConstraint(self.backend, schema_key(schema), gbnf)

    def _check_parses(self, compiled: CompiledConstraint, tokenizer: ConstraintTokenizer) -> None:
        """llama.cpp parses GBNF only when a sampler is built; do it once per vocabulary."""

        def build() -> bool:
            import llama_cpp

            sampler = llama_cpp.llama_sampler_init_grammar(
                tokenizer.vocab, compiled.grammar.encode("utf-8"), b"root"
            )
            if not sampler:
                raise self._error(compiled.schema, "llama.cpp could not parse the GBNF grammar")
            llama_cpp.llama_sampler_free(sampler)
            return True

        tokenizer.cached(("gbnf.parses", compiled), build)

    def accepts(
        self, compiled: CompiledConstraint, text: str, tokenizer: ConstraintTokenizer
    ) -> bool:
        import llama_cpp

        self._check_parses(compiled, tokenizer)
        sampler = llama_cpp.llama_sampler_init_grammar(
            tokenizer.vocab, compiled.grammar.encode("utf-8"), b"root"
        )
        try:
            for token in tokenizer.tokenize(text):
                if not _allows(sampler, token):
                    return False
                # Accepting a token the grammar forbids aborts inside llama.cpp; checked above.
                llama_cpp.llama_sampler_accept(sampler, token)
            return any(_allows(sampler, eog) for eog in tokenizer.eog_tokens[:1])
        finally:
            llama_cpp.llama_sampler_free(sampler)

    def sampling_kwargs(
        self, compiled: CompiledConstraint, tokenizer: ConstraintTokenizer
    ) -> dict[str, Any]:
        from llama_cpp.llama_grammar import LlamaGrammar

        self._check_parses(compiled, tokenizer)
        return {"grammar": LlamaGrammar.from_string(compiled.grammar, verbose=False)}


def _allows(sampler: Any, token: int) -> bool:
    """Whether the grammar sampler keeps ``token`` as the next token (a one-candidate array)."""
    import llama_cpp

    data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
    array = llama_cpp.llama_token_data_array(
        data=ctypes.cast(data, llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False
    )
    llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
    return not math.isinf(data[0].logit)
