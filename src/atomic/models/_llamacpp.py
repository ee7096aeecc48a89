"""Local GGUF models on CPU through llama-cpp-python, with grammar-constrained decoding."""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from atomic.errors import (
    AtomicError,
    ConfigError,
    ContextWindowExceededError,
    InvalidRequestError,
    ModelError,
    ModelUnavailableError,
    UnsupportedError,
)
from atomic.models._base import Message, Model, ModelRequest, ModelResponse
from atomic.models._card import ModelCard, OutputStrategy, Usage
from atomic.models._chat_templates import CHAT_TEMPLATES, TEMPLATE_STOPS
from atomic.settings import ConstraintBackend

if TYPE_CHECKING:
    from llama_cpp import Llama

    from atomic.structured._constraint import ConstraintTokenizer

__all__ = ["LlamaCppModel"]

_log = logging.getLogger("atomic.llamacpp")
# With verbose=False, llama-cpp-python points fds 1 and 2 at /dev/null and swaps sys.stdout and
# sys.stderr while it builds a model. Two builds at once could restore each other's swapped
# streams and leave the process silenced, so builds take turns across all models.
_construct_lock = threading.Lock()
_log_callback: Any = None
_GGML_LOG_LEVEL_ERROR = 4  # ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5


def _route_llama_logs() -> None:
    """Send llama.cpp's own log lines to the ``atomic.llamacpp`` logger instead of stderr.

    llama-cpp-python's callback maps ggml's log levels as they were before ggml renumbered them
    (WARN is now 3, which it reads as ERROR), so warnings such as Gemma's "using full-size SWA
    cache" reach stderr even with ``verbose=False``. Here errors stay errors and everything
    else becomes DEBUG. This replaces llama-cpp-python's callback for the whole process.
    """
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace").rstrip()
        # A grammar llama.cpp cannot parse is reported to the caller as a ConstraintError; its
        # log line (which dumps the whole grammar) is only for debugging.
        error = level == _GGML_LOG_LEVEL_ERROR and "grammar" not in line
        if line:
            _log.log(logging.ERROR if error else logging.DEBUG, "%s", line)

    _log_callback = forward  # referenced for as long as llama.cpp may call it
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


def _default_threads() -> int:
    # One core stays free for the event loop and everything else: llama.cpp's threads wait for
    # each other at every step, so one of them losing its core stalls all of them (on 2 busy
    # cores, 2 threads fell to ~1 token/s where 1 thread kept ~40). Past 4, small models gain
    # nothing.
    return max(1, min((os.cpu_count() or 1) - 1, 4))


@dataclass(eq=False)
class _Runtime:
    """What a loaded model holds; shared by the twins :meth:`with_constraint_backend` makes."""

    path: Path | Callable[[], Path]
    chat_format: str | None
    llama: Llama | None = None
    template: str | None = None
    formatter: Any = None
    tokenizer: ConstraintTokenizer | None = None
    load_lock: threading.Lock = field(default_factory=threading.Lock)
    call_lock: threading.Lock = field(default_factory=threading.Lock)


def _normalise(messages: Sequence[Message]) -> list[dict[str, str]]:
    """One leading system message and alternating turns, which every template accepts."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "system":
            continue
        if len(turns) > (1 if system else 0) and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    return turns


class LlamaCppModel(Model):
    """A GGUF model run in-process by llama.cpp on the CPU.

    The weights load on first use (or on :meth:`load`), once; the loaded model serves every
    later call. Calls run in a worker thread, one at a time (a llama.cpp context is not
    thread-safe). With the ``grammar`` strategy, the output schema becomes a decoding
    constraint (``constraint_backend``), so the model cannot write tokens the schema forbids.

    >>> from atomic.models import ModelCard, OutputStrategy, Residency
    >>> card = ModelCard(id="llamacpp:my-model", context_window=4096, residency=Residency.LOCAL,
    ...                  strategies=frozenset({OutputStrategy.GRAMMAR, OutputStrategy.PROMPT}))
    >>> model = LlamaCppModel(Path("my-model.gguf"), card=card)   # nothing is loaded yet
    >>> model.loaded
    False

    ``path`` may be a callable returning the path, called at load time (e.g. to assemble the
    file). ``chat_format`` overrides the GGUF's own ``tokenizer.chat_template``: a Jinja chat
    template, or a name in :data:`CHAT_TEMPLATES`.
    """

    def __init__(
        self,
        path: Path | Callable[[], Path],
        *,
        card: ModelCard,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        constraint_backend: ConstraintBackend = ConstraintBackend.LLGUIDANCE,
        chat_format: str | None = None,
    ) -> None:
        self.card = card
        self.n_ctx = n_ctx
        self.n_threads = n_threads or _default_threads()
        self.constraint_backend = ConstraintBackend(constraint_backend)
        self._rt = _Runtime(path=path, chat_format=chat_format)

    def with_constraint_backend(self, backend: ConstraintBackend) -> LlamaCppModel:
        """This model constrained by another backend, sharing the loaded weights and locks."""
        twin = copy.copy(self)
        twin.constraint_backend = ConstraintBackend(backend)
        return twin

    # -- loading ---------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._rt.llama is not None

    @property
    def llama(self) -> Llama:
        """The loaded ``llama_cpp.Llama`` (loading it if needed)."""
        return self.load_sync()

    @property
    def chat_template(self) -> str:
        """The Jinja chat template in use."""
        self.load_sync()
        assert self._rt.template is not None
        return self._rt.template

    async def load(self) -> None:
        """Load the weights now (in a worker thread) instead of on the first call."""
        if self._rt.llama is None:
            await anyio.to_thread.run_sync(self.load_sync)

    def load_sync(self) -> Llama:
        """Load the weights in this thread, once; later calls return the loaded model."""
        if self._rt.llama is not None:
            return self._rt.llama
        with self._rt.load_lock:
            if self._rt.llama is None:
                self._rt.llama = self._load()
        return self._rt.llama

    def _resolve_path(self) -> Path:
        try:
            path = Path(self._rt.path() if callable(self._rt.path) else self._rt.path)
        except AtomicError:
            raise
        except Exception as exc:
            raise ModelUnavailableError(
                f"the weights of {self.id} could not be prepared: {type(exc).__name__}: {exc}",
                model_id=self.id,
                hint="check that the package shipping the GGUF file is installed",
            ) from exc
        if not path.is_file():
            raise ModelUnavailableError(
                f"the GGUF file of {self.id} does not exist: {path}",
                model_id=self.id,
                hint="check the path, or install the package that ships the model",
                context={"path": str(path)},
            )
        return path

    def _load(self) -> Llama:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = self._resolve_path()
        _route_llama_logs()
        try:
            with _construct_lock:
                llama = Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelUnavailableError(
                f"llama.cpp could not load {path} for {self.id}: {exc}",
                model_id=self.id,
                hint="the file may be truncated or not a GGUF model; delete it to rebuild it",
                context={"path": str(path)},
            ) from exc
        self._rt.template = self._pick_template(llama)
        model = llama._model
        eos, bos = llama.token_eos(), llama.token_bos()
        self._rt.formatter = Jinja2ChatFormatter(
            template=self._rt.template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            add_generation_prompt=True,
        )
        return llama

    def _pick_template(self, llama: Llama) -> str:
        chosen = self._rt.chat_format
        if chosen is None:
            embedded = llama.metadata.get("tokenizer.chat_template")
            if embedded:
                return str(embedded)
            raise ConfigError(
                f"the GGUF file of {self.id} has no chat template (tokenizer.chat_template)",
                hint=f"pass chat_format= a Jinja template or one of {sorted(CHAT_TEMPLATES)}",
                context={"model_id": self.id},
            )
        if "{{" in chosen or "{%" in chosen:
            return chosen
        if chosen in CHAT_TEMPLATES:
            return CHAT_TEMPLATES[chosen]
        raise ConfigError(
            f"unknown chat_format {chosen!r} for {self.id}",
            hint=f"pass a Jinja chat template or one of {sorted(CHAT_TEMPLATES)}",
            context={"model_id": self.id, "chat_format": chosen},
        )

    # -- prompt and tokens -----------------------------------------------------------------

    def render_prompt(self, messages: Sequence[Message]) -> str:
        """The exact text the model reads for ``messages``, generation prompt included.

        Every system message reaches the model: templates without a system role (Gemma's)
        fold it into the first user turn, and if a template drops it, it is prepended to the
        first user message here.
        """
        self.load_sync()
        turns = _normalise(messages)
        prompt = self._apply_template(turns)
        if turns and turns[0]["role"] == "system" and turns[0]["content"].strip() not in prompt:
            system, rest = turns[0]["content"], turns[1:]
            if rest and rest[0]["role"] == "user":
                rest[0] = {"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}
            else:
                rest.insert(0, {"role": "user", "content": system})
            prompt = self._apply_template(rest)
        return prompt

    def _apply_template(self, turns: list[dict[str, str]]) -> str:
        try:
            return str(self._rt.formatter(messages=turns).prompt)
        except Exception as exc:  # Jinja errors and the template's own raise_exception
            raise InvalidRequestError(
                f"the chat template of {self.id} rejected the messages: {exc}",
                model_id=self.id,
                hint="send a system message, then alternating user and assistant messages",
                context={"roles": [t["role"] for t in turns]},
            ) from exc

    def _prompt_tokens(self, prompt: str) -> list[int]:
        # The template writes the BOS and turn markers itself, so they are parsed as special
        # tokens and no BOS is added (as transformers' apply_chat_template does).
        return list(self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` takes in this model's tokenizer; ``None`` until the model is loaded,
        so that an auction never loads the weights of a model that may not win."""
        if not self.loaded:
            return None
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def constraint_tokenizer(self) -> ConstraintTokenizer:
        """This model's vocabulary for the constraint backends (built once)."""
        from atomic.structured._constraint import ConstraintTokenizer

        llama = self.load_sync()
        with self._rt.load_lock:
            if self._rt.tokenizer is None:
                self._rt.tokenizer = ConstraintTokenizer.from_llama(llama)
        return self._rt.tokenizer

    # -- calls -----------------------------------------------------------------------------

    async def invoke(self, request: ModelRequest) -> ModelResponse:
        strategy = request.output.strategy if request.output else OutputStrategy.PROMPT
        if strategy not in self.card.strategies:
            supported = ", ".join(sorted(s.value for s in self.card.strategies))
            raise UnsupportedError(
                f"{self.id} cannot use the {strategy.value} output strategy",
                model_id=self.id,
                hint=f"use one of: {supported}",
                context={"strategy": strategy.value},
            )
        # llama.cpp cannot be interrupted mid-token, so a cancelled call (a timeout) returns at
        # once and its thread stops at the next token; the model is free again right after.
        cancelled = threading.Event()
        try:
            return await anyio.to_thread.run_sync(
                self._generate, request, strategy, cancelled, abandon_on_cancel=True
            )
        finally:
            cancelled.set()

    def _constraint_kwargs(self, request: ModelRequest) -> dict[str, Any]:
        from atomic.structured._constraint import (
            closed_objects,
            compile_constraint,
            constraint_engine,
        )

        assert request.output is not None
        schema = closed_objects(request.output.json_schema)
        compiled = compile_constraint(schema, self.constraint_backend)
        engine = constraint_engine(self.constraint_backend)
        return engine.sampling_kwargs(compiled, self.constraint_tokenizer())

    def _generate(
        self, request: ModelRequest, strategy: OutputStrategy, cancelled: threading.Event
    ) -> ModelResponse:
        from llama_cpp import StoppingCriteriaList

        # Lock order everywhere: call_lock, then load_lock (inside load_sync).
        with self._rt.call_lock:
            if cancelled.is_set():
                raise ModelError(
                    f"the call to {self.id} was cancelled before it started",
                    model_id=self.id,
                    hint="the caller gave up (a timeout or a cancelled task); call again",
                )
            llama = self.load_sync()
            prompt = self.render_prompt(request.messages)
            tokens = self._prompt_tokens(prompt)
            if len(tokens) >= self.n_ctx:
                raise ContextWindowExceededError(
                    f"the prompt is {len(tokens)} tokens but {self.id}'s context window is "
                    f"{self.n_ctx} tokens (prompt and output together)",
                    model_id=self.id,
                    hint="shorten the input, raise ATOMIC_N_CTX, or use a model with a larger "
                    "window",
                    context={"prompt_tokens": len(tokens), "context_window": self.n_ctx},
                )
            constraint = (
                self._constraint_kwargs(request) if strategy is OutputStrategy.GRAMMAR else {}
            )
            start = time.perf_counter()
            try:
                completion: Any = llama.create_completion(
                    tokens,
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    seed=request.seed,
                    repeat_penalty=1.0,
                    stop=TEMPLATE_STOPS.get(self.chat_template, []),
                    stopping_criteria=StoppingCriteriaList(
                        [lambda _ids, _scores: cancelled.is_set()]
                    ),
                    **constraint,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelError(
                    f"llama.cpp failed while generating with {self.id}: {exc}",
                    model_id=self.id,
                    hint="retry; if it persists, reload the model or lower max_tokens",
                ) from exc
            latency_ms = (time.perf_counter() - start) * 1000
        choice = completion["choices"][0]
        usage = Usage(
            input_tokens=completion["usage"]["prompt_tokens"],
            output_tokens=completion["usage"]["completion_tokens"],
        )
        return ModelResponse(
            model_id=self.id,
            text=choice["text"],
            usage=usage,
            cost_usd=self.card.price.cost(usage),
            latency_ms=latency_ms,
            finish_reason=choice.get("finish_reason"),
            strategy=strategy,
        )

    def close(self) -> None:
        """Free the weights (after the running call, if any); the next call loads them again."""
        rt = self._rt
        with rt.call_lock, rt.load_lock:
            llama, rt.llama, rt.tokenizer = rt.llama, None, None
            if llama is not None:
                llama.close()

    async def aclose(self) -> None:
        """Free the weights without blocking the event loop."""
        await anyio.to_thread.run_sync(self.close)
