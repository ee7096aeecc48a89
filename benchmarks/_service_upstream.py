"""A loopback OpenAI-compatible upstream that answers at once, for ``benchmarks/service.py``.

``python benchmarks/_service_upstream.py PORT``: a label when the prompt asks for one, else a
short reply, in the JSON the asking side expects.
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    if scope["path"].endswith("/models"):
        body = json.dumps({"object": "list", "data": [{"id": "up", "object": "model"}]})
    else:
        asked = b"".join(chunks)
        content = '{"label": "positive"}' if b'\\"label\\"' in asked else '{"text": "ok"}'
        body = json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": 0,
                "model": "up",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
            }
        )
    raw = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")
