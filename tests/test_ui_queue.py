"""ui.serve's queue, as a `gradio_client` athlete sees it: every answer waits in it under load.

A real Gradio server on 127.0.0.1, served by `ui.serve` exactly as `aq-coach serve` and the bench's
trivial endpoint are, with one slow endpoint in the answering concurrency group (one at a time), so
that requests sent together have to wait for each other.
"""

from __future__ import annotations

import time

import pytest
from helpers import free_port

pytestmark = [pytest.mark.server]

SENT = 6


def _place_updates(job) -> int:
    """How many "you are number N in the queue" updates the client received for this job."""
    from gradio_client.utils import Status, StatusUpdate

    updates = job.communicator.updates
    seen = []
    while not updates.empty():
        seen.append(updates.get_nowait())
    return sum(1 for u in seen if isinstance(u, StatusUpdate) and u.code == Status.IN_QUEUE)


@pytest.fixture()
def slow_server():
    import gradio as gr
    from gradio_client import Client

    from assistant.config import Settings
    from assistant.ui import serve

    def slow(question: str) -> str:
        time.sleep(0.2)
        return question

    with gr.Blocks(analytics_enabled=False) as demo:
        gr.api(slow, api_name="slow", concurrency_id="aq-answer", concurrency_limit=1)
    settings = Settings(host="127.0.0.1", port=free_port(), queue_status_interval_s=30)
    serve(demo, settings, block=False)
    client = Client(f"http://127.0.0.1:{settings.port}/", verbose=False)
    yield demo, client
    client.close()
    demo.close()


def test_waiting_requests_learn_their_place_without_an_update_at_every_start(slow_server):
    demo, client = slow_server
    jobs = [client.submit(f"question {n}", api_name="/slow") for n in range(SENT)]
    assert [job.result(timeout=60) for job in jobs] == [f"question {n}" for n in range(SENT)]
    places = [_place_updates(job) for job in jobs]
    # Each request that had to wait was told its place when it joined...
    assert sum(1 for n in places if n >= 1) >= SENT - 2, places
    # ...and not again each time a request ahead of it started: Gradio's default ("auto") tells every
    # waiting request at every start, SENT - 1 more updates for the last one, messages that grow with
    # the square of the queue. Here they come every queue_status_interval_s (30 s: none in this test).
    assert max(places) <= 2, places


def test_no_monitoring_summary_is_worked_out_per_request(slow_server):
    demo, client = slow_server
    for n in range(3):
        assert client.predict(f"question {n}", api_name="/slow") == f"question {n}"
    # Gradio rebuilds this pandas summary (of up to its last 10,000 requests) after every request,
    # for a /monitoring page ui.serve turns off.
    assert demo._queue.cached_event_analytics_summary == {"functions": {}}
