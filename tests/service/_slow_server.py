"""A service on a slow function model, run as its own process so a test can SIGKILL it.

``python tests/service/_slow_server.py HOME PORT``
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvicorn

from atomic import FunctionModel
from atomic.models import ModelRequest
from atomic.models._function import function_card
from atomic.service import create_app
from atomic.settings import AtomicSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.service.conftest import triage


async def slow(request: ModelRequest) -> object:
    await asyncio.sleep(0.3)  # so that runs are in flight when the process is killed
    return {"label": "other"}


def main() -> None:
    home, port = Path(sys.argv[1]), int(sys.argv[2])
    settings = AtomicSettings(home=home, learned_models=False, run_lease_s=1.0)
    model = FunctionModel(slow, card=function_card("slow:model"))
    app = create_app(settings, models=[model], tasks=[triage])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
