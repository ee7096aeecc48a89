"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint, over httpx.

OpenAI, vLLM, llama.cpp's server, Ollama, LM Studio and most gateways serve it. Failures map
to :mod:`atomic.encoders` errors: no answer, a timeout, 429 or 5xx are
:class:`EncoderEndpointDownError` (retryable); any other refusal, or a body that is not one
embedding per text, is :class:`EncoderEndpointError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from atomic.encoders._base import Embeddings, normalised
from atomic.encoders._errors import EncoderEndpointDownError, EncoderEndpointError

__all__ = ["OpenAIEncoder"]


class OpenAIEncoder:
    """``openai:<model>`` at ``base_url`` (ending in ``/v1``).

    ``dim`` is known after the first answer unless given. Texts go in requests of at most
    ``batch_size``; every vector is L2-normalised here (not every server does it).

    >>> encoder = OpenAIEncoder("text-embedding-3-small", base_url="https://api.openai.com/v1")
    >>> encoder.name
    'openai:text-embedding-3-small'
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        dim: int | None = None,
        timeout: float = 60.0,
        batch_size: int = 256,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.batch_size = batch_size
        self._dim = dim
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client_args: dict[str, Any] = {"headers": headers, "timeout": timeout}
        self._client = httpx.AsyncClient(transport=transport, **self._client_args)

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    @property
    def dim(self) -> int:
        """The vectors' length: 0 until the endpoint first answered (unless given)."""
        return self._dim or 0

    def __repr__(self) -> str:
        return f"OpenAIEncoder({self.model!r}, base_url={self.base_url!r})"

    async def encode(self, texts: Sequence[str]) -> Embeddings:
        rows = [
            self._parse(await self._post(self._body(texts[i : i + self.batch_size])), n)
            for i, n in self._batches(texts)
        ]
        return self._joined(rows)

    def encode_sync(self, texts: Sequence[str]) -> Embeddings:
        """As :meth:`encode`, blocking this thread (for a classifier training in a worker)."""
        with httpx.Client(**self._client_args) as client:
            rows = [
                self._parse(self._post_sync(client, self._body(texts[i : i + self.batch_size])), n)
                for i, n in self._batches(texts)
            ]
        return self._joined(rows)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _batches(self, texts: Sequence[str]) -> list[tuple[int, int]]:
        return [
            (i, min(self.batch_size, len(texts) - i)) for i in range(0, len(texts), self.batch_size)
        ]

    def _body(self, texts: Sequence[str]) -> dict[str, Any]:
        return {"model": self.model, "input": list(texts), "encoding_format": "float"}

    def _joined(self, rows: list[Embeddings]) -> Embeddings:
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack(rows)

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        try:
            return await self._client.post(f"{self.base_url}/embeddings", json=body)
        except httpx.HTTPError as exc:
            raise self._no_answer(exc) from None

    def _post_sync(self, client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
        try:
            return client.post(f"{self.base_url}/embeddings", json=body)
        except httpx.HTTPError as exc:
            raise self._no_answer(exc) from None

    def _no_answer(self, exc: httpx.HTTPError) -> EncoderEndpointDownError:
        what = "timed out" if isinstance(exc, httpx.TimeoutException) else "gave no answer"
        return EncoderEndpointDownError(
            f"the embeddings endpoint {self.base_url}/embeddings {what}: "
            f"{type(exc).__name__}: {exc}",
            hint="check that the server is running and ATOMIC_ENCODER_URL points at it "
            "(…/v1), or set ATOMIC_ENCODER=local",
            context={"url": self.base_url, "model": self.model},
        )

    def _parse(self, response: httpx.Response, expected: int) -> Embeddings:
        context = {"url": self.base_url, "model": self.model}
        if response.status_code == 429 or response.status_code >= 500:
            raise EncoderEndpointDownError(
                f"the embeddings endpoint answered {response.status_code}: {_detail(response)}",
                status=response.status_code,
                hint="try again later, or lower the load on the endpoint",
                context=context,
            )
        if response.status_code >= 400:
            raise EncoderEndpointError(
                f"the embeddings endpoint refused model {self.model!r} with "
                f"{response.status_code}: {_detail(response)}",
                status=response.status_code,
                hint=_refusal_hint(response.status_code),
                context=context,
            )
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = normalised([item["embedding"] for item in items])
        except (ValueError, KeyError, TypeError) as exc:
            raise EncoderEndpointError(
                f"the answer of {self.base_url}/embeddings is not an embeddings list "
                f"({type(exc).__name__}: {exc}): {response.text[:200]!r}",
                status=response.status_code,
                hint="point ATOMIC_ENCODER_URL at an OpenAI-compatible server's /v1",
                context=context,
            ) from None
        if len(vectors) != expected or (self._dim and vectors.shape[1] != self._dim):
            raise EncoderEndpointError(
                f"{self.base_url}/embeddings returned {vectors.shape[0]} vectors of "
                f"{vectors.shape[1]} for {expected} texts (expected {self._dim or 'any'} "
                "dimensions)",
                status=response.status_code,
                hint="check the model name; a server that truncates batches needs a smaller "
                "batch_size",
                context=context,
            )
        self._dim = vectors.shape[1]
        return vectors


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return str(body)[:200]


def _refusal_hint(status: int) -> str:
    if status in (401, 403):
        return "set OPENAI_API_KEY (or ATOMIC_OPENAI_API_KEY) to a key the endpoint accepts"
    if status == 404:
        return "check the model name in ATOMIC_ENCODER=openai:<model> and that the URL ends in /v1"
    return "check the model name and that the endpoint serves embeddings"
