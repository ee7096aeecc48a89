"""One adapter for every OpenAI-compatible chat-completions endpoint, over async httpx.

It covers OpenAI, vLLM, Ollama, llama.cpp's servers, LM Studio and most gateways. What a server
answers is read by :mod:`atomic.models._openai_parse`, which also maps each HTTP failure to an
:mod:`atomic.errors` class; this module sends requests and maps transport failures (a timeout to
``TimeoutError``, anything else that got no HTTP answer to ``TransportError``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from atomic._net import check_offline_address
from atomic.errors import ConfigError, ServerError, TimeoutError, TransportError, UnsupportedError
from atomic.models._base import Model, ModelRequest, ModelResponse, OutputSpec
from atomic.models._card import ModelCard, OutputStrategy, Price, Residency
from atomic.models._openai_endpoint import EndpointMemory, read_context_window
from atomic.models._openai_parse import (
    APIErrorBody,
    error_for_response,
    parse_completion,
    parse_error_body,
    rejects_json_schema_type,
)

__all__ = ["Egress", "EgressRecorder", "OpenAICompatModel", "SchemaFormat", "is_loopback_url"]

SchemaFormat = Literal["auto", "json_schema", "json_object"]
"""How a JSON-schema output is asked for.

``json_schema``: OpenAI's ``{"type": "json_schema", "json_schema": {name, schema, strict}}``.
``json_object``: ``{"type": "json_object", "schema": ...}``, the older form that
llama-cpp-python's server (and Anyscale-style gateways) honour and that rejects the standard one.
``auto``: the standard form, switching to ``json_object`` for good if the server rejects the
``json_schema`` type itself.
"""


def is_loopback_url(base_url: str) -> bool:
    """Whether ``base_url`` points at this machine (a server that needs no key by default)."""
    try:
        return _is_loopback(httpx.URL(base_url).host)
    except httpx.InvalidURL:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Egress:
    """Task data about to leave for a model that is not ``local``: the exact bytes, and where."""

    model_id: str
    endpoint_host: str
    residency: Residency
    region: str | None
    payload: bytes
    """The request body exactly as it will be sent."""
    task_input: Mapping[str, Any] | None
    tenant: str | None


class EgressRecorder(Protocol):
    """Where an egress is recorded before it happens (Atomic's egress ledger)."""

    async def before_egress(self, egress: Egress) -> None:
        """Record ``egress`` durably, or raise: a request that cannot be recorded is not sent."""


def _encode(body: Any) -> bytes:
    # httpx's own JSON encoding, done here so the bytes recorded are the bytes sent.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _schema_name(name: str) -> str:
    # OpenAI accepts names of [a-zA-Z0-9_-]{1,64}; task names may hold dots.
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "output"


def _response_format(output: OutputSpec, form: Literal["json_schema", "json_object"]) -> Any:
    if form == "json_object":
        return {"type": "json_object", "schema": output.json_schema}
    return {
        "type": "json_schema",
        "json_schema": {
            "name": _schema_name(output.name),
            "schema": output.json_schema,
            "strict": True,
        },
    }


class OpenAICompatModel(Model):
    """A model served by an OpenAI-compatible ``/chat/completions`` endpoint.

    >>> model = OpenAICompatModel(base_url="http://127.0.0.1:8000/v1", model="smollm2")
    >>> model.card.id, model.card.residency.value
    ('openai:smollm2', 'local')

    The default card is named ``provider:model``, is ``local`` when ``base_url`` is a loopback
    address (``cloud`` otherwise), costs nothing, has an 8192-token window, and supports
    JSON-schema output when ``json_schema`` is true; pass ``card=`` for real numbers. A cost
    the server reports in ``usage.cost`` (as some gateways do) wins over the card's price.

    ``schema_format`` picks how a JSON-schema output is requested (see :data:`SchemaFormat`).
    A request carries only what the call needs: ``temperature`` and ``seed`` only when the
    caller set them on the request or ``request_defaults`` (``temperature``, ``seed``,
    ``top_p``, ``max_tokens``: atomic.toml's ``request`` table) asks for them.

    ``memory`` remembers, per endpoint and across processes, the ``response_format`` form the
    server honours and the context window it reports; with ``window_from_server``, the first
    call (or :meth:`refresh_context_window`) reads that window from the server.
    ``client`` lets several models share one ``httpx.AsyncClient``; :meth:`aclose` closes only a
    client this model created.

    ``egress``: when the card's residency is not ``local``, every request carrying task data is
    first handed to it (Atomic passes its egress ledger) and is not sent if recording fails.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        card: ModelCard | None = None,
        provider: str = "openai",
        json_schema: bool = True,
        schema_format: SchemaFormat = "auto",
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        request_defaults: Mapping[str, Any] | None = None,
        memory: EndpointMemory | None = None,
        window_from_server: bool = False,
        egress: EgressRecorder | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            url = None
            reason = str(exc)
        else:
            reason = "it needs an http(s) scheme and a host"
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"base_url {base_url!r} for model {model!r} is not an http(s) URL: {reason}",
                hint="give the API root, e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1",
                context={"base_url": base_url, "model": model},
            )
        if timeout <= 0:
            raise ConfigError(
                f"timeout {timeout!r} for model {model!r} must be positive",
                hint="give the seconds one call may take, e.g. timeout=60",
                context={"timeout": timeout, "model": model},
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.card = card or ModelCard(
            id=f"{provider}:{model}",
            price=Price(),
            context_window=8192,
            residency=Residency.LOCAL if _is_loopback(url.host) else Residency.CLOUD,
            strategies=frozenset(
                {OutputStrategy.JSON_SCHEMA, OutputStrategy.PROMPT}
                if json_schema
                else {OutputStrategy.PROMPT}
            ),
        )
        self._schema_format: SchemaFormat = schema_format
        self.request_defaults: dict[str, Any] = dict(request_defaults or {})
        self._memory = memory
        self._window_from_server = window_from_server
        self._window_checked = not window_from_server
        if memory is not None:
            known = memory.get(self.base_url)
            if schema_format == "auto" and known.get("schema_format") == "json_object":
                self._schema_format = "json_object"
            window = known.get("context_window", {}).get(model)
            if window_from_server and isinstance(window, int) and window > 0:
                self.card = self.card.model_copy(update={"context_window": window})
                self._window_checked = True
        self._headers = {"Accept": "application/json", **(headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self.egress = egress

    def __repr__(self) -> str:
        return f"OpenAICompatModel(id={self.id!r}, base_url={self.base_url!r})"

    @property
    def sends_key(self) -> bool:
        """Whether requests carry an ``Authorization`` key."""
        return "Authorization" in self._headers

    @property
    def schema_format(self) -> SchemaFormat:
        """The form JSON-schema outputs are asked in; ``auto`` becomes ``json_object`` for good
        once the server has rejected the ``json_schema`` type."""
        return self._schema_format

    async def invoke(self, request: ModelRequest) -> ModelResponse:
        """Run one chat completion; raise an :mod:`atomic.errors` error for any failure."""
        strategy = self._check_strategy(request)
        if not self._window_checked:
            await self.refresh_context_window()
        body = self._body(request)
        wants_schema = strategy is OutputStrategy.JSON_SCHEMA and request.output is not None
        if wants_schema:
            assert request.output is not None
            form: Literal["json_schema", "json_object"] = (
                "json_object" if self._schema_format == "json_object" else "json_schema"
            )
            body["response_format"] = _response_format(request.output, form)

        start = time.perf_counter()
        response = await self._post_task_data(body, request)
        if response.is_error and wants_schema and self._schema_format == "auto":
            error = self._error_body(response)
            if rejects_json_schema_type(error):
                # The server predates response_format json_schema (llama-cpp-python's does):
                # it only honours a schema inside the older json_object form. Remember that.
                assert request.output is not None
                self._schema_format = "json_object"
                if self._memory is not None:
                    self._memory.update(self.base_url, schema_format="json_object")
                body["response_format"] = _response_format(request.output, "json_object")
                response = await self._post_task_data(body, request)
        latency_ms = (time.perf_counter() - start) * 1000
        self._raise_for_status(response)

        completion = parse_completion(self._json(response))
        if completion is None:
            raise self._not_a_completion(response, "a chat completion")
        cost = completion.cost_usd
        return ModelResponse(
            model_id=self.id,
            text=completion.text,
            usage=completion.usage,
            cost_usd=self.card.price.cost(completion.usage) if cost is None else cost,
            latency_ms=latency_ms,
            finish_reason=completion.finish_reason,
            strategy=strategy,
        )

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        """Only what the call needs: sampling options the caller set on the request, or that
        the configuration's request defaults ask for, and nothing else. (llama.cpp's server
        took ~11 s a call with ``seed`` and ``temperature: 0`` against 1.3 s without.)"""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
        }
        asked = request.model_fields_set
        if "temperature" in asked:
            body["temperature"] = request.temperature
        if "seed" in asked and request.seed is not None:
            body["seed"] = request.seed
        body.update(self.request_defaults)
        return body

    async def refresh_context_window(self) -> int | None:
        """Ask the server for this model's context window (llama.cpp's ``/props``, vLLM's
        ``/v1/models``); put it on the card and remember it. None when the server does not
        say; the card keeps its window then."""
        self._window_checked = True
        found = await read_context_window(
            self._client, self.base_url, self.model, headers=self._headers, timeout_s=self.timeout
        )
        if found is None:
            return None
        window, source = found
        self.card = self.card.model_copy(update={"context_window": window})
        if self._memory is not None:
            windows = dict(self._memory.get(self.base_url).get("context_window", {}))
            windows[self.model] = window
            self._memory.update(self.base_url, context_window=windows, window_source=source)
        return window

    async def list_models(self) -> list[str]:
        """The model names the server serves (``GET {base_url}/models``)."""
        response = await self._send("GET", "/models")
        self._raise_for_status(response)
        data = self._json(response)
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise self._not_a_completion(response, "a model list")
        return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]

    async def aclose(self) -> None:
        """Close the HTTP client, if this model created it."""
        if self._owns_client:
            await self._client.aclose()

    def _check_strategy(self, request: ModelRequest) -> OutputStrategy:
        if request.output is None:
            return OutputStrategy.PROMPT
        strategy = request.output.strategy
        if strategy is OutputStrategy.PROMPT:
            return strategy
        if strategy is OutputStrategy.JSON_SCHEMA and strategy in self.card.strategies:
            return strategy
        supported = ", ".join(sorted(s.value for s in self.card.strategies))
        raise UnsupportedError(
            f"{self.id} cannot hold output to a schema with strategy {strategy.value!r}; "
            f"it supports: {supported}",
            model_id=self.id,
            hint="ask with one of the card's strategies (the exchange does this itself); an "
            "HTTP endpoint cannot run grammar-constrained decoding for Atomic",
            context={"base_url": self.base_url, "strategy": strategy.value},
        )

    async def _post_task_data(self, body: Any, request: ModelRequest) -> httpx.Response:
        """POST a chat completion; for a model that is not local, recorded first."""
        payload = _encode(body)
        if self.egress is not None and self.card.residency is not Residency.LOCAL:
            await self.egress.before_egress(
                Egress(
                    model_id=self.id,
                    endpoint_host=httpx.URL(self.base_url).host,
                    residency=self.card.residency,
                    region=self.card.region,
                    payload=payload,
                    task_input=request.task_input,
                    tenant=request.tenant,
                )
            )
        return await self._send("POST", "/chat/completions", payload)

    async def _send(self, method: str, path: str, payload: bytes | None = None) -> httpx.Response:
        url = self.base_url + path
        # Offline mode blocks the socket anyway; checking first says so plainly.
        target = httpx.URL(url)
        check_offline_address(target.host, target.port, what=f"a request from {self.id} to")
        headers = self._headers
        if payload is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            return await self._client.request(
                method, url, content=payload, headers=headers, timeout=self.timeout
            )
        except httpx.TimeoutException as exc:
            raise TimeoutError(
                f"{self.id} at {self.base_url} did not answer {method} {path} within "
                f"{self.timeout:g}s ({type(exc).__name__})",
                model_id=self.id,
                hint="raise the timeout (ATOMIC_REQUEST_TIMEOUT, or timeout=), lower max_tokens, "
                "or check the server's load",
                context={"base_url": self.base_url, "timeout": self.timeout},
            ) from exc
        except httpx.TransportError as exc:
            raise TransportError(
                f"{self.id}: {method} {url} got no HTTP answer: "
                f"{type(exc).__name__}: {str(exc) or 'no detail'}",
                model_id=self.id,
                hint=f"check that the server at {self.base_url} is running and reachable",
                context={"base_url": self.base_url},
            ) from exc

    def _error_body(self, response: httpx.Response) -> APIErrorBody:
        return parse_error_body(response.status_code, response.content, response.headers)

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        raise error_for_response(
            self._error_body(response), model_id=self.id, model=self.model, base_url=self.base_url
        )

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _not_a_completion(self, response: httpx.Response, expected: str) -> ServerError:
        snippet = response.text[:200] or "an empty body"
        return ServerError(
            f"{self.id} at {self.base_url} answered HTTP {response.status_code} with a body that "
            f"is not {expected}: {snippet}",
            model_id=self.id,
            status=response.status_code,
            hint="check that base_url is the OpenAI-compatible API root (e.g. ending in /v1), "
            "not a web page or a proxy's error page",
            context={"base_url": self.base_url, "model": self.model},
        )
