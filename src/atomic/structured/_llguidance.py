"""The llguidance backend: a JSON Schema as an Earley grammar, applied as a token bitmask."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from atomic.settings import ConstraintBackend
from atomic.structured._constraint import (
    CompiledConstraint,
    ConstraintEngine,
    ConstraintTokenizer,
    schema_key,
)

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

__all__ = ["LLGuidanceEngine"]

COMPILE_OPTIONS: JsonCompileOptions = {
    # Unimplemented keywords are an error, not silently dropped: a constraint that is looser
    # than the schema it claims to enforce is worse than an honest fallback to prompting.
    "lenient": False,
    # Bounded whitespace between tokens: any JSON layout a serializer writes is accepted, but a
    # small model cannot spin forever on newlines (unbounded whitespace is a classic loop).
    "whitespace_flexible": True,
    "whitespace_pattern": r"[\x20\x09\x0A\x0D]{0,24}",
}


class _MaskProcessor:
    """A ``logits_processor`` that masks tokens the matcher forbids and advances it.

    llama-cpp-python calls it once per sampled token with every token id so far (prompt plus
    output); the tokens past the prompt that the matcher has not seen yet are the ones sampled
    since the last call.
    """

    def __init__(self, matcher: Any, n_vocab: int, eog_tokens: tuple[int, ...]) -> None:
        from llguidance.numpy import allocate_token_bitmask

        self._matcher = matcher
        self._n_vocab = n_vocab
        self._eog = np.asarray(eog_tokens, dtype=np.intp)
        self._bitmask: npt.NDArray[np.int32] = allocate_token_bitmask(1, n_vocab)
        self._prompt_len: int | None = None
        self._seen = 0

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        from llguidance.numpy import fill_next_token_bitmask

        if self._prompt_len is None:
            self._prompt_len = len(input_ids)
        new = input_ids[self._prompt_len + self._seen :]
        if len(new):
            self._matcher.consume_tokens([int(t) for t in new])
            self._seen += len(new)
        if self._matcher.is_error():
            # Cannot happen while the mask is obeyed; if it does, end the output rather than
            # let the model write on unconstrained. Validation will report what it wrote.
            allowed = np.zeros(len(scores), dtype=bool)
            allowed[self._eog[self._eog < len(scores)]] = True
        else:
            fill_next_token_bitmask(self._matcher, self._bitmask)
            bits = np.unpackbits(self._bitmask.view(np.uint8), bitorder="little")
            allowed = bits[: len(scores)].astype(bool)
        scores[~allowed] = -np.inf
        return scores


def lltokenizer_for(tokenizer: ConstraintTokenizer) -> Any:
    """llguidance's view of a llama.cpp vocabulary (about a second per 100k tokens; cached).

    The same construction as ``llguidance.llamacpp.lltokenizer_from_vocab``, which calls
    llama-cpp-python functions that now warn as deprecated (an error under our test settings).
    """
    import ctypes

    import llama_cpp
    from llguidance import LLTokenizer

    vocab = tokenizer.vocab
    buffer = ctypes.create_string_buffer(16 * 1024 + 1)
    pieces: list[bytes] = []
    for token in range(tokenizer.n_vocab):
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, 16 * 1024, 0, True)
        if n < 0:
            raise ValueError(f"token {token} does not fit a 16 KiB buffer")
        piece = ctypes.string_at(buffer, n)
        attr = llama_cpp.llama_vocab_get_attr(vocab, token)
        # llguidance marks special tokens with a 0xFF prefix so grammar text never matches them.
        if attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL or (
            attr & llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            and piece.startswith(b"<")
            and piece.endswith(b">")
        ):
            piece = b"\xff" + piece
        pieces.append(piece)
    tokenize = ctypes.cast(llama_cpp.llama_cpp._lib.llama_tokenize, ctypes.c_void_p).value
    return LLTokenizer.from_llamacpp(  # type: ignore[attr-defined]
        tokens=pieces,
        vocab_ptr=vocab,
        tokenize_fptr=tokenize,
        eos_token=list(tokenizer.eog_tokens),
        slices=None,
    )


class LLGuidanceEngine(ConstraintEngine):
    """Compiles with ``LLMatcher.grammar_from_json_schema``; masks with an ``LLMatcher``."""

    backend = ConstraintBackend.LLGUIDANCE

    def compile(self, schema: Mapping[str, Any]) -> CompiledConstraint:
        from llguidance import LLMatcher

        try:
            grammar = LLMatcher.grammar_from_json_schema(dict(schema), defaults=COMPILE_OPTIONS)
        except ValueError as exc:
            raise self._error(schema, str(exc)) from exc
        problem = LLMatcher.validate_grammar(grammar)
        if problem:
            raise self._error(schema, _short(problem))
        return CompiledConstraint(self.backend, schema_key(schema), grammar)

    def _lltokenizer(self, tokenizer: ConstraintTokenizer) -> Any:
        return tokenizer.cached("llguidance.tokenizer", lambda: lltokenizer_for(tokenizer))

    def _pristine_matcher(
        self, compiled: CompiledConstraint, tokenizer: ConstraintTokenizer
    ) -> Any:
        """A matcher at the start of the grammar, bound to this vocabulary; copied per use."""
        lltok = self._lltokenizer(tokenizer)

        def build() -> Any:
            from llguidance import LLMatcher

            matcher = LLMatcher(lltok, compiled.grammar, log_level=0)
            if matcher.is_error():
                raise self._error(compiled.schema, _short(matcher.get_error()))
            return matcher

        return tokenizer.cached(("llguidance.matcher", compiled), build)

    def accepts(
        self, compiled: CompiledConstraint, text: str, tokenizer: ConstraintTokenizer
    ) -> bool:
        matcher = self._pristine_matcher(compiled, tokenizer).deep_copy()
        for token in tokenizer.tokenize(text):
            if not matcher.consume_token(token):
                return False
        return bool(matcher.is_accepting())

    def sampling_kwargs(
        self, compiled: CompiledConstraint, tokenizer: ConstraintTokenizer
    ) -> dict[str, Any]:
        from llama_cpp import LogitsProcessorList

        matcher = self._pristine_matcher(compiled, tokenizer).deep_copy()
        processor = _MaskProcessor(matcher, tokenizer.n_vocab, tokenizer.eog_tokens)
        return {"logits_processor": LogitsProcessorList([processor])}


def _short(message: str) -> str:
    """llguidance errors can carry the whole grammar; keep the part that names the problem."""
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    try:  # some messages are JSON
        data = json.loads(first)
        first = str(data.get("message", first)) if isinstance(data, dict) else first
    except ValueError:
        pass
    return first[:500]
