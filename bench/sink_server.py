"""The real server plus one bench-only route: ``PUT /bench/sink`` streams the body to a file.

That route is the physical baseline of ``upload_throughput.py``: the same process, the same
socket stack and the same disk, with nothing but reading the body and writing it out (and an
fsync at the end, as the storage backend does).
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import uvicorn
from fastapi import Request
from fastapi.responses import JSONResponse

from scopix_server import Settings, create_app


def main() -> None:
    data_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    app = create_app(Settings(data_dir=data_dir))
    sink_dir = data_dir / "sink"
    sink_dir.mkdir(parents=True, exist_ok=True)

    @app.put("/bench/sink")
    async def sink(request: Request) -> JSONResponse:
        path = sink_dir / uuid.uuid4().hex
        size = 0
        with open(path, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        path.unlink()
        return JSONResponse({"size": size})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
