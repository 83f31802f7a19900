"""The load generator for `aq-coach bench`'s API figures, in a process of its own.

`bench.load.api_load` runs its 50 `gradio_client` sessions here rather than in the bench's own process,
which by then holds the in-process service, torch, ONNX Runtime and (after the LLM figures) a local
model. The clients' CPU is most of the machine's work in a round; in a fresh process that imports
gradio_client and assistant.bench (no models), it is the same for both endpoints and every round,
whatever the bench measured before.

Run as `python -m assistant.bench.clients JOB RESULT`: JOB is a JSON file with url, conversations
and server_pid; the run's dict (bench.load.api_load) is written to RESULT as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    job_path, result_path = (argv if argv is not None else sys.argv[1:])[:2]
    from .load import api_load

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    run = api_load(job["url"], [tuple(c) for c in job["conversations"]], server_pid=job.get("server_pid"))
    Path(result_path).write_text(json.dumps(run), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
