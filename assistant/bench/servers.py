"""Servers and processes the bench starts: `aq-coach search` as a cold process, `aq-coach serve`
beside a trivial Gradio app (ready time), the UI under concurrent sessions; starting, waiting, stopping."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..config import Settings
from .figures import QUESTIONS, figure

SEARCH_PROCESS_QUERY = "what is contributor timing"


def search_process_figure(env: dict, runs: int = 5) -> dict:
    """`aq-coach search` as a fresh process each time (after one run that fills the OS file cache):
    the median of `runs`."""
    cmd = [sys.executable, "-m", "assistant", "search", SEARCH_PROCESS_QUERY]
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                   timeout=300, check=True)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                       timeout=300, check=True)
        times.append(time.perf_counter() - t)
    fig = figure("search_cold_process_s", value=statistics.median(times), unit="s")
    fig.update(runs=[round(x, 3) for x in times], query=SEARCH_PROCESS_QUERY, target_s=1.5)
    return fig


# A trivial Gradio app for serve_ready_s: a Chatbot and a Textbox, launched as `aq-coach serve` launches
# (queue, no SSR, quiet); it imports gradio and nothing of AQ Coach's.
TRIVIAL_CHAT_APP = """
import os
import gradio as gr

def reply(message, chat):
    return "", (chat or []) + [{"role": "user", "content": message}, {"role": "assistant", "content": "ok"}]

with gr.Blocks(title="trivial", analytics_enabled=False) as demo:
    chat = gr.Chatbot()
    box = gr.Textbox()
    box.submit(reply, [box, chat], [box, chat])
demo.queue().launch(server_name="127.0.0.1", server_port=int(os.environ["AQ_PORT"]), quiet=True, share=False,
                    ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False)
"""


SERVE_READY_TARGET_S = 1.0


def serve_ready_figure(env: dict, rounds: int, say) -> dict:
    """How long `aq-coach serve` (an index in place) takes to serve its config, beside the trivial
    Chatbot + Textbox app, each started `rounds` times in alternating order; medians, and their gap."""
    servers = {"aq": ["-m", "assistant", "serve"], "trivial": ["-c", TRIVIAL_CHAT_APP]}
    ready: dict[str, list[float]] = {name: [] for name in servers}
    for n in range(rounds):
        for name in (list(servers) if n % 2 == 0 else list(servers)[::-1]):
            proc, _url, took = start_server(servers[name], env)
            stop(proc)
            ready[name].append(round(took, 3))
    aq, trivial = statistics.median(ready["aq"]), statistics.median(ready["trivial"])
    fig = figure("serve_ready_s", value=aq, unit="s")
    fig.update(trivial_ready_s=round(trivial, 3), gap_s=round(aq - trivial, 3), target_gap_s=SERVE_READY_TARGET_S,
               meets_target=aq - trivial <= SERVE_READY_TARGET_S, aq_runs=ready["aq"], trivial_runs=ready["trivial"])
    say(f"  serve ready after {aq:.2f} s, the trivial Chatbot + Textbox app after {trivial:.2f} s: "
        f"gap {aq - trivial:.2f} s (target ≤ {SERVE_READY_TARGET_S} s)")
    return fig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ui_figures(settings: Settings, data_dir: Path, clients: int, console) -> list[dict]:
    """Start `aq-coach serve` for real, time the first answer, then load it with concurrent sessions."""
    from gradio_client import Client

    port = _free_port()
    env = {**os.environ, "AQ_DATA_DIR": str(data_dir), "AQ_CORPUS_DIR": str(settings.corpus_dir), "AQ_PORT": str(port),
           "AQ_HOST": "127.0.0.1", "AQ_BACKEND": "composer"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                client.predict("What is contributor timing?", api_name="/chat")
                break
            except Exception:
                client = None
                time.sleep(0.3)
        if client is None:
            raise RuntimeError("the UI did not answer within 120 s")
        cold = time.perf_counter() - started
        if console:
            console.print(f"UI answered after {cold:.1f} s; loading it with {clients} sessions…")
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def session(n: int) -> None:
            try:
                c = Client(f"http://127.0.0.1:{port}/", verbose=False)
                for q in (QUESTIONS[n % len(QUESTIONS)], QUESTIONS[(n + 3) % len(QUESTIONS)]):
                    t = time.perf_counter()
                    c.predict(q, api_name="/chat")
                    with lock:
                        latencies.append((time.perf_counter() - t) * 1000)
            except Exception as exc:  # counted, not raised: the figure reports them
                with lock:
                    errors.append(type(exc).__name__)

        threads = [threading.Thread(target=session, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        load = figure("ui_p95_under_load_ms", latencies) if latencies else figure("ui_p95_under_load_ms", value=float("nan"))
        if latencies:  # the figure is the p95, not the median figure puts in value by default
            load["value"] = load["p95_ms"]
        load["errors"] = len(errors)
        load["sessions"] = clients
        return [figure("ui_cold_start_s", value=cold, unit="s"), load]
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()



def start_server(args: list[str], env: dict, timeout_s: float = 180) -> tuple[subprocess.Popen, str, float]:
    """Start a Gradio server and wait until it says it is ready (it serves its config). Nothing is
    asked of its endpoints, so the first answer request is the load's own. Returns the process, its
    url and the seconds it took to become ready."""
    port = _free_port()
    env = {**env, "AQ_PORT": str(port), "AQ_HOST": "127.0.0.1", "NO_PROXY": "127.0.0.1,localhost"}
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        return proc, url, _wait_ready(proc, url, args, timeout_s) - started
    except BaseException:  # not ready, or Ctrl-C while waiting: never leave the server running
        stop(proc)
        raise


def _wait_ready(proc: subprocess.Popen, url: str, args: list[str], timeout_s: float) -> float:
    """When the server first served its config (perf_counter); raises when it exits or times out."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"`{' '.join(args)}` exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return time.perf_counter()
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"`{' '.join(args)}` was not ready within {timeout_s:.0f} s")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
