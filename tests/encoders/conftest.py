"""The encoder tests' shared pieces: the real local model, loaded once per session, and an
OpenAI-compatible embeddings server on loopback.

The server is a small Starlette app under uvicorn in a thread whose ``/v1/embeddings`` answers
with the local model's real vectors. It is the collaborator of the HTTP client under test, not
a product under test: it also gives, on demand, the failures a real server gives rarely
(401 without the key, 500, 429, a body that is not an embeddings list, one vector short).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from atomic.encoders import LocalEncoder, local_encoder_installed
from tests.fixtures.threaded import uvicorn_in_thread

BANKING77 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "banking77"
API_KEY = "sk-encoder-test"


@pytest.fixture(scope="session")
def local_encoder() -> LocalEncoder:
    """The shipped encoder, loaded (hash checks, tokenizer, ONNX session) once."""
    if not local_encoder_installed():
        pytest.fail(
            "the local encoder is not installed: scripts/setup installs '.[dev,encoder]'",
            pytrace=False,
        )
    encoder = LocalEncoder(threads=1)
    encoder.load()
    return encoder


def banking77(split: str) -> list[tuple[str, str]]:
    with (BANKING77 / f"{split}.csv").open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["category"]) for row in csv.DictReader(f)]


@dataclass(frozen=True)
class EmbeddingsServer:
    root: str
    api_key: str
    model: str = "all-minilm-l6-v2"

    def url(self, scenario: str = "ok") -> str:
        return f"{self.root}/{scenario}/v1"


@pytest.fixture(scope="session")
def embeddings_server(local_encoder: LocalEncoder) -> Iterator[EmbeddingsServer]:
    async def embeddings(request: Request) -> Response:
        scenario = request.path_params["scenario"]
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if scenario == "broken":
            return JSONResponse({"error": {"message": "out of memory"}}, status_code=500)
        if scenario == "busy":
            return JSONResponse({"error": "slow down"}, status_code=429)
        if scenario == "garbage":
            return JSONResponse({"object": "chat.completion", "choices": []})
        if body.get("model") != "all-minilm-l6-v2":
            return JSONResponse(
                {"error": {"message": f"model {body.get('model')!r} not found"}}, status_code=404
            )
        vectors = await local_encoder.encode(texts)
        if scenario == "short":
            vectors = vectors[:-1]
        data = [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ]
        # Reversed: a client must order by index, as OpenAI's reference says.
        return JSONResponse({"object": "list", "data": data[::-1], "model": body["model"]})

    app = Starlette(routes=[Route("/{scenario}/v1/embeddings", embeddings, methods=["POST"])])
    with uvicorn_in_thread(app, "the embeddings server") as root:
        yield EmbeddingsServer(root=root, api_key=API_KEY)
