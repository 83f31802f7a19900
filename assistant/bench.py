"""`aq-coach bench`: figures measured on this machine, printed, never asserted.

Everything runs in a temporary data dir, so the athlete's index is never touched. The 10k
retrieval corpus is synthetic: chunks made of shuffled corpus sentences. Their vectors are the
normalised mean of their sentences' real MiniLM vectors, so the store holds 10,000 realistic
vectors without spending minutes embedding them; the query side is embedded for real.

The API load figures (api_load_aq, api_load_trivial, api_load_ratio) run concurrent two-turn
`gradio_client` sessions on /chat_with_history against `aq-coach serve` (composer) and against a
trivial Gradio endpoint with the same queue and concurrency settings (assistant/bench_trivial.py),
in alternating order over LOAD_ROUNDS rounds, each on a freshly started server, from the first
request after it is ready. The clients run in a process of their own (assistant/bench_clients.py).
Every AQ answer is compared with the in-process service's answer for
the same conversation.

Latency figures come twice. *Cold* (`embed_query`, `retrieval_shipped`, `retrieval_10k`,
`composer_answer`; "state": "cold"): distinct questions from the labelled question sets
(evals/datasets/plan/*.yaml, else evals/datasets/*.yaml), each asked once, after every memo keyed
by text is cleared (the searcher's question vectors, the tokenizer's, the guard's and the
composer's lru caches): what a new athlete's question costs. *Warm* (the same names + `_warm`):
the 10 QUESTIONS asked again and again, mostly memo hits. Beside them: the install size of the
environment the bench runs in, `aq-coach search` as a cold process (median of 5), and how long
`aq-coach serve` takes to be ready beside a trivial Gradio app (a Chatbot and a Textbox) started
in the same run.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .config import Settings

QUESTIONS = [
    "Why does sprinting feel off some days?",
    "Is coordination the cause of sprint speed?",
    "What is contributor timing?",
    "Why does my sprint feel heavy and rushed?",
    "What does swing-side thrust mean?",
    "Why can sprinting feel smooth and powerful at the same time?",
    "Two sprinters both look smooth, so why is one of them faster?",
    "What should speed training focus on?",
    "How do the pushing and swing sides work together?",
    "According to AQ, what does speed depend on?",
]


def _percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return round(p50, 2), round(p95, 2)


def _timed(fn: Callable[[], object], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _figure(name: str, samples_ms: list[float] | None = None, value: float | None = None, unit: str = "ms") -> dict:
    p50, p95 = _percentiles(samples_ms) if samples_ms else (None, None)
    return {"name": name, "p50_ms": p50, "p95_ms": p95, "value": round(value, 3) if value is not None else p50, "unit": unit}


def bench_questions(root: Path | None = None) -> list[str]:
    """Distinct athlete questions for the cold figures: the labelled plan sets
    (evals/datasets/plan/*.yaml, families[].questions[].q) when they exist, else the questions of
    the eval sets (evals/datasets/*.yaml, cases[].question), shuffled with a fixed seed."""
    import yaml

    from .config import PROJECT_ROOT

    datasets = Path(root or PROJECT_ROOT) / "evals" / "datasets"
    found: list[str] = []

    def read(path: Path):
        try:
            return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):  # a set being written: left out
            return {}

    for path in sorted((datasets / "plan").glob("*.yaml")):
        data = read(path)
        for family in (data.get("families") or []) if isinstance(data, dict) else []:
            for q in (family.get("questions") or []) if isinstance(family, dict) else []:
                if isinstance(q, dict) and isinstance(q.get("q"), str) and q["q"].strip():
                    found.append(q["q"].strip())
    if not found:
        for path in sorted(datasets.glob("*.yaml")):
            data = read(path)
            for case in (data.get("cases") or []) if isinstance(data, dict) else []:
                if isinstance(case, dict) and isinstance(case.get("question"), str) and case["question"].strip():
                    found.append(case["question"].strip())
    distinct = sorted(set(found) - set(QUESTIONS))
    random.Random(26).shuffle(distinct)
    return distinct


def clear_memos(*holders) -> int:
    """Forget every memo keyed by text: the lru caches of the assistant's modules that take an
    argument (loaders such as the doctrine file's are kept), and the question-vector dicts
    (`_vectors`) of the searchers and composers given. Returns how many were cleared."""
    import functools
    import inspect

    cleared = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith(__package__ + ".") or module is None:
            continue
        for attr in list(vars(module).values()):
            if isinstance(attr, functools._lru_cache_wrapper) and "load" not in attr.__name__:
                try:
                    takes_args = bool(inspect.signature(attr.__wrapped__).parameters)
                except (TypeError, ValueError):
                    takes_args = True
                if takes_args:
                    attr.cache_clear()
                    cleared += 1
    for holder in holders:
        memo = getattr(holder, "_vectors", None)
        if isinstance(memo, dict):
            memo.clear()
            cleared += 1
    return cleared


def _cold(name: str, fn: Callable[[str], object], questions: list[str], *holders) -> dict:
    """fn once per distinct question, after the memos are cleared: the figure a new question costs."""
    clear_memos(*holders)
    samples = []
    for q in questions:
        t = time.perf_counter()
        fn(q)
        samples.append((time.perf_counter() - t) * 1000)
    fig = _figure(name, samples)
    fig.update(state="cold", questions=len(questions))
    return fig


def _warm(name: str, fn: Callable[[], object], repeats: int) -> dict:
    """fn on the 10 QUESTIONS again and again: mostly memo hits."""
    fig = _figure(f"{name}_warm", _timed(fn, repeats))
    fig.update(state="warm", questions=len(QUESTIONS))
    return fig


def install_size_mb(prefix: str | None = None) -> float:
    """Size of the environment (sys.prefix): `du -sk`, as people measure it, or the files' sizes."""
    prefix = prefix or sys.prefix
    try:
        out = subprocess.run(["du", "-sk", prefix], capture_output=True, text=True, timeout=120, check=True)
        return int(out.stdout.split()[0]) / 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        total = 0
        for folder, _dirs, files in os.walk(prefix):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(folder, f)).st_size
        return total / 2**20


def _install_figure() -> dict:
    import importlib.util

    fig = _figure("install_size_mb", value=install_size_mb(), unit="MB")
    fig.update(prefix=sys.prefix, torch_installed=importlib.util.find_spec("torch") is not None, target_mb=1100)
    return fig


SEARCH_PROCESS_QUERY = "what is contributor timing"


def _search_process_figure(env: dict, runs: int = 5) -> dict:
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
    fig = _figure("search_cold_process_s", value=statistics.median(times), unit="s")
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


def _serve_ready_figure(env: dict, rounds: int, say) -> dict:
    """How long `aq-coach serve` (an index in place) takes to serve its config, beside the trivial
    Chatbot + Textbox app, each started `rounds` times in alternating order; medians, and their gap."""
    servers = {"aq": ["-m", "assistant", "serve"], "trivial": ["-c", TRIVIAL_CHAT_APP]}
    ready: dict[str, list[float]] = {name: [] for name in servers}
    for n in range(rounds):
        for name in (list(servers) if n % 2 == 0 else list(servers)[::-1]):
            proc, _url, took = _start_server(servers[name], env)
            _stop(proc)
            ready[name].append(round(took, 3))
    aq, trivial = statistics.median(ready["aq"]), statistics.median(ready["trivial"])
    fig = _figure("serve_ready_s", value=aq, unit="s")
    fig.update(trivial_ready_s=round(trivial, 3), gap_s=round(aq - trivial, 3), target_gap_s=SERVE_READY_TARGET_S,
               meets_target=aq - trivial <= SERVE_READY_TARGET_S, aq_runs=ready["aq"], trivial_runs=ready["trivial"])
    say(f"  serve ready after {aq:.2f} s, the trivial Chatbot + Textbox app after {trivial:.2f} s: "
        f"gap {aq - trivial:.2f} s (target ≤ {SERVE_READY_TARGET_S} s)")
    return fig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_corpus(src: Path, dst: Path, copies: int) -> None:
    """The shipped corpus, repeated with distinct slugs, so ingest has enough work to measure."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in src.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        for n in range(copies):
            (dst / f"{path.stem}-{n}.md").write_text(text.replace("slug: ", f"slug: copy{n}-", 1), encoding="utf-8")
    for extra in src.glob("*.yaml"):
        shutil.copy(extra, dst / extra.name)


def _synthetic_store(settings: Settings, embeddings, sentences: list[str], n_chunks: int, seed: int = 7) -> None:
    import numpy as np

    from .store import get_collection, open_client

    rng = random.Random(seed)
    vectors = np.asarray(embeddings.embed_documents(sentences), dtype="float32")
    client = open_client(settings)
    collection = get_collection(settings, client, create=True)
    batch = 2000
    for start in range(0, n_chunks, batch):
        ids, docs, metas, embs = [], [], [], []
        for i in range(start, min(n_chunks, start + batch)):
            picks = rng.sample(range(len(sentences)), k=min(5, len(sentences)))
            vec = vectors[picks].mean(axis=0)
            vec /= np.linalg.norm(vec) or 1.0
            ids.append(f"syn{i}")
            docs.append(f"Synthetic section {i % 40}\n" + " ".join(sentences[p] for p in picks))
            metas.append({"id": f"syn{i}", "source": "synthetic", "title": "Synthetic", "section": f"Synthetic section {i % 40}",
                          "kind": "section", "question": "", "order": i})
            embs.append(vec.tolist())
        collection.add(ids=ids, documents=docs, metadatas=metas, embeddings=embs)
    collection.modify(metadata={"aq_state": "complete", "aq_version": f"synthetic-{n_chunks}"})


def _ui_figures(settings: Settings, data_dir: Path, clients: int, console) -> list[dict]:
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
        load = _figure("ui_p95_under_load_ms", latencies) if latencies else _figure("ui_p95_under_load_ms", value=float("nan"))
        if latencies:  # the figure is the p95, not the median _figure puts in value by default
            load["value"] = load["p95_ms"]
        load["errors"] = len(errors)
        load["sessions"] = clients
        return [_figure("ui_cold_start_s", value=cold, unit="s"), load]
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()


# --- API load: the real app against a trivial Gradio endpoint, 50 two-turn sessions -----------------

# Two-turn conversations: a question about a glossary term or a feeling, then a follow-up that only
# makes sense in that conversation. Asked alone, "How do I improve it?" and "What should I work on for
# that?" are out of scope; with their conversation, each is answered about its first question. The
# terms come from the corpus's glossary, so the load follows whatever articles are imported.
LOAD_FEELINGS = [
    "Why does my sprint feel heavy and rushed?",
    "Why does sprinting feel off some days?",
    "Why does sprinting sometimes feel effortless?",
    "Is coordination the cause of sprint speed?",
]
# Follow-ups whose answer depends on the turn before ("what should I work on for that?" is answered with
# AQ's one training list whichever term came first).
LOAD_FOLLOW_UPS = ["How do I improve it?", "How would I know it is getting better?", "How does that help me run faster?"]
LOAD_ENDPOINT = "/chat_with_history"
LOAD_ANSWER_TIMEOUT_S = 120
LOAD_TIMEOUT_S = 300
# The acceptance targets (issue 10): AQ's answers/s at least this share of the trivial endpoint's,
# and its p95 at most this multiple of the trivial p95.
TARGET_THROUGHPUT_SHARE = 0.9
TARGET_P95_RATIO = 1.2
# Rounds per endpoint in a full bench. The same trivial endpoint measured against itself swung
# 20.9-28.5 answers/s from round to round (the clients' own CPU, 6-10 s a round, is most of the
# machine's work), and one round's AQ/trivial share ran from 61% to 136%. The 90% interval of the
# pooled share was about ±10 points wide over 8 rounds, ±6 over 16 and ±4 over 40: a share a few
# points above the 90% target needs 40 to be told from one below it (about 20 minutes).
LOAD_ROUNDS = 40


def load_conversations(sessions: int, terms: list[str]) -> list[tuple[str, str]]:
    """One (first turn, follow-up) per session: every glossary term and feeling with every follow-up
    before any conversation repeats."""
    firsts = [f"What is {term}?" for term in terms] + LOAD_FEELINGS
    pairs = [(f, u) for u in LOAD_FOLLOW_UPS for f in firsts]
    return [pairs[n % len(pairs)] for n in range(sessions)]


def _start_server(args: list[str], env: dict, timeout_s: float = 180) -> tuple[subprocess.Popen, str, float]:
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
        _stop(proc)
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


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def _answer_text(result) -> str:
    if isinstance(result, (list, tuple)) and result:
        result = result[0]
    return str(result or "").strip()


def _cpu_s(pid: int | None = None) -> float | None:
    """CPU seconds (user + system) used so far by this process, or by process pid (Linux /proc)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine has been busy (all processes, all cores; Linux /proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def api_load(url: str, conversations: list[tuple[str, str]], server_pid: int | None = None) -> dict:
    """One `gradio_client.Client` per session, each asking its first turn and then its follow-up
    (with the conversation so far) on /chat_with_history. The clients connect first; all sessions
    then send their first request at once, and the clock runs from there to the last answer.

    Returns latencies (ms, per request), errors (one line each), the wall time (s) and every
    session's (answer 1, history, answer 2), None for a session that failed; and the CPU seconds
    the clients (this process), the server (server_pid) and everything else on the machine used
    while the clock ran (other_cpu_s: a busy neighbour makes the figures incomparable)."""
    from gradio_client import Client

    n = len(conversations)
    latencies: list[float] = []
    errors: list[str] = []
    results: list[tuple | None] = [None] * n
    lock = threading.Lock()
    gate = threading.Barrier(n + 1)
    finished: list[float] = []

    def ask(client, *args) -> str:
        t = time.perf_counter()
        out = _answer_text(client.submit(*args, api_name=LOAD_ENDPOINT).result(timeout=LOAD_ANSWER_TIMEOUT_S))
        done = time.perf_counter()
        with lock:
            latencies.append((done - t) * 1000)
            finished.append(done)
        return out

    def session(i: int) -> None:
        first, follow_up = conversations[i]
        client = None
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # counted, not raised: the figure reports them
            with lock:
                errors.append(f"session {i}: connect: {type(exc).__name__}: {str(exc)[:200]}")
        try:
            gate.wait(timeout=LOAD_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pass
        if client is None:
            return
        try:
            answer1 = ask(client, first, "[]")
            history = [{"role": "user", "content": first}, {"role": "assistant", "content": answer1}]
            answer2 = ask(client, follow_up, json.dumps(history))
            results[i] = (answer1, history, answer2)
        except Exception as exc:
            with lock:
                errors.append(f"session {i}: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            with contextlib.suppress(Exception):
                client.close()

    # This process may hold the in-process service too (~600k objects). Frozen, its own full garbage
    # collections (200-600 ms with every client thread stopped, at random moments) stay out of the figures.
    gc.collect()
    gc.freeze()
    threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        gate.wait(timeout=LOAD_TIMEOUT_S)
    start = time.perf_counter()
    cpu0 = (_cpu_s(), _cpu_s(server_pid) if server_pid else None, _machine_busy_s())
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    cpu1 = (_cpu_s(), _cpu_s(server_pid) if server_pid else None, _machine_busy_s())
    gc.unfreeze()
    errors += [f"session {i}: no answer within {LOAD_TIMEOUT_S} s" for i, t in enumerate(threads) if t.is_alive()]
    wall = (max(finished) - start) if finished else float("nan")
    cpu = [round(b - a, 2) if a is not None and b is not None else None for a, b in zip(cpu0, cpu1)]
    other = round(cpu[2] - cpu[0] - cpu[1], 2) if None not in cpu else None
    return {"latencies": latencies, "errors": errors, "wall_s": wall, "results": results,
            "client_cpu_s": cpu[0], "server_cpu_s": cpu[1], "other_cpu_s": other}


def api_load_in_child(url: str, conversations: list[tuple[str, str]], server_pid: int | None = None) -> dict:
    """api_load run by a fresh `python -m assistant.bench_clients` (why: that module's docstring).
    The same dict, with each session's result as a list; raises RuntimeError when the child fails."""
    with tempfile.TemporaryDirectory(prefix="aq-load-") as tmp:
        job, result = Path(tmp, "job.json"), Path(tmp, "result.json")
        job.write_text(json.dumps({"url": url, "conversations": conversations, "server_pid": server_pid}), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "assistant.bench_clients", str(job), str(result)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=2 * LOAD_TIMEOUT_S + 60, env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
        if proc.returncode != 0 or not result.exists():
            tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(f"the load clients exited with {proc.returncode}: {tail[0][:300]}")
        return json.loads(result.read_text(encoding="utf-8"))


def _load_figure(name: str, runs: list[dict], sessions: int) -> dict:
    """One figure over one or more load runs: p50/p95 of every request, answers/s over their
    summed wall time, errors summed; each run's own figures under "runs"."""
    def one(run: dict) -> dict:
        lat = run["latencies"]
        p50, p95 = _percentiles(lat) if lat else (None, None)
        rate = len(lat) / run["wall_s"] if lat and run["wall_s"] > 0 else float("nan")
        return {"p50_ms": p50, "p95_ms": p95, "answers_per_s": round(rate, 2), "answers": len(lat),
                "errors": len(run["errors"]), "wall_s": round(run["wall_s"], 3), "client_cpu_s": run.get("client_cpu_s"),
                "server_cpu_s": run.get("server_cpu_s"), "other_cpu_s": run.get("other_cpu_s")}

    lat = [x for run in runs for x in run["latencies"]]
    wall = sum(run["wall_s"] for run in runs if run["latencies"])
    rate = len(lat) / wall if lat and wall > 0 else float("nan")
    fig = _figure(name, lat) if lat else _figure(name, value=float("nan"))
    fig.update(value=round(rate, 2), unit="answers/s", answers_per_s=round(rate, 2), answers=len(lat),
               errors=sum(len(run["errors"]) for run in runs), sessions=sessions, rounds=len(runs), cores=os.cpu_count(),
               runs=[one(run) for run in runs])
    examples = [e for run in runs for e in run["errors"]][:3]
    if examples:
        fig["error_examples"] = examples
    return fig


def check_context(run: dict, conversations: list[tuple[str, str]], expected: Callable[[str, list[dict]], str]) -> dict:
    """Is every answer the service's own for that conversation? `expected(question, history)` is
    the in-process answer, so a follow-up answered from another session's context (or from none)
    counts as wrong. Also counts the follow-ups whose answer needed their conversation."""
    wrong: list[str] = []
    mattered = 0
    cache: dict[tuple, str] = {}

    def want(question: str, history: list[dict]) -> str:
        key = (question, json.dumps(history))
        if key not in cache:
            cache[key] = expected(question, history).strip()
        return cache[key]

    for i, result in enumerate(run["results"]):
        if result is None:
            continue
        answer1, history, answer2 = result
        first, follow_up = conversations[i]
        if answer1 != want(first, []):
            wrong.append(f"session {i}: turn 1 ({first!r}) is not the service's answer")
        if answer2 != want(follow_up, history):
            wrong.append(f"session {i}: the follow-up ({first!r} → {follow_up!r}) was not answered in its own context")
        mattered += want(follow_up, history) != want(follow_up, [])
    return {"wrong_answers": len(wrong), "wrong_examples": wrong[:3], "context_mattered": mattered}


def _api_load_figures(settings: Settings, data_dir: Path, sessions: int, service, say, rounds: int = 1) -> list[dict]:
    """api_load_trivial and api_load_aq: the same sessions against a trivial Gradio endpoint and
    against `aq-coach serve` (composer), `rounds` times each, every run on a freshly started server
    and measured from the first request after it said it was ready; and api_load_ratio, AQ against
    that floor. Each round starts both servers, then runs their loads back to back, in alternating
    order (trivial first, then AQ first, …): on 2 cores the clients' own CPU (gradio_client polls
    each pending request) swings from one minute to the next, so the two runs a round compares are
    seconds apart rather than a server start (8-12 s) apart, and each endpoint goes first as often."""
    env = {**os.environ, "AQ_DATA_DIR": str(data_dir), "AQ_CORPUS_DIR": str(settings.corpus_dir), "AQ_BACKEND": "composer"}
    conversations = load_conversations(sessions, [t.term for t in service.glossary])
    expected = lambda question, history: service.answer(question, history).text  # noqa: E731
    servers = {"api_load_trivial": ["-m", "assistant.bench_trivial"], "api_load_aq": ["-m", "assistant", "serve"]}
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    ready: dict[str, list[float]] = {name: [] for name in servers}
    context = {"wrong_answers": 0, "wrong_examples": [], "context_mattered": 0}
    for n in range(rounds):
        order = list(servers) if n % 2 == 0 else list(servers)[::-1]
        started = {}
        try:
            for name in order:  # both fresh and ready before either is measured: their loads run back to back
                started[name] = _start_server(servers[name], env)
            for name in order:
                proc, url, took = started[name]
                run = api_load_in_child(url, conversations, server_pid=proc.pid)
                runs[name].append(run)
                ready[name].append(round(took, 2))
                _say_round(say, n, rounds, name, took, run, sessions)
        finally:
            for proc, _url, _took in started.values():
                _stop(proc)
        checked = check_context(runs["api_load_aq"][-1], conversations, expected)
        context["wrong_answers"] += checked["wrong_answers"]
        context["wrong_examples"] = (context["wrong_examples"] + checked["wrong_examples"])[:3]
        context["context_mattered"] += checked["context_mattered"]
    trivial = _load_figure("api_load_trivial", runs["api_load_trivial"], sessions)
    aq = _load_figure("api_load_aq", runs["api_load_aq"], sessions)
    trivial["ready_s"], aq["ready_s"] = ready["api_load_trivial"], ready["api_load_aq"]
    aq.update(context, follow_ups=len(conversations) * rounds)
    share = aq["answers_per_s"] / trivial["answers_per_s"] if trivial["answers_per_s"] else float("nan")
    p95_ratio = aq["p95_ms"] / trivial["p95_ms"] if aq["p95_ms"] and trivial["p95_ms"] else float("nan")
    meets = (aq["errors"] == 0 and aq["wrong_answers"] == 0 and share >= TARGET_THROUGHPUT_SHARE
             and p95_ratio <= TARGET_P95_RATIO)
    interval = share_interval(runs["api_load_trivial"], runs["api_load_aq"])
    ratio = {"name": "api_load_ratio", "p50_ms": None, "p95_ms": None, "value": round(share, 3),
             "unit": "aq/trivial answers/s", "throughput_share": round(share, 3), "p95_ratio": round(p95_ratio, 3),
             "target_throughput_share": TARGET_THROUGHPUT_SHARE, "target_p95_ratio": TARGET_P95_RATIO,
             "meets_target": meets, "round_shares": _round_shares(trivial["runs"], aq["runs"]),
             "throughput_share_interval": interval}
    for f in (trivial, aq):
        say(f"  {f['name']:<17} p50 {f['p50_ms']} ms  p95 {f['p95_ms']} ms  {f['answers_per_s']} answers/s  "
            f"errors {f['errors']}" + (f"  wrong answers {f['wrong_answers']}" if "wrong_answers" in f else ""))
    say(f"  AQ/trivial: throughput {share:.0%} (target ≥ {TARGET_THROUGHPUT_SHARE:.0%}), "
        f"p95 {p95_ratio:.2f}× (target ≤ {TARGET_P95_RATIO}×): {'met' if meets else 'NOT met'}"
        + (f"; round by round {min(ratio['round_shares']):.0%}-{max(ratio['round_shares']):.0%}"
           if len(ratio["round_shares"]) > 1 else ""))
    if interval:
        inside = interval[0] < TARGET_THROUGHPUT_SHARE <= interval[1]
        say(f"  throughput share, 90% interval over the rounds: {interval[0]:.0%}-{interval[1]:.0%}"
            + ("; the target lies inside it, so this run cannot settle it (more rounds narrow it: --load-rounds)"
               if inside else ""))
    return [trivial, aq, ratio]


def share_interval(trivial_runs: list[dict], aq_runs: list[dict], level: float = 0.9, draws: int = 2000,
                   seed: int = 0) -> list[float] | None:
    """How far the pooled AQ/trivial throughput share can be trusted: a bootstrap interval over
    rounds (each round's pair of runs is resampled together, as the alternating order made them
    comparable), or None with fewer than two rounds. Seeded, so a report is reproducible."""
    pairs = [(len(t["latencies"]), t["wall_s"], len(a["latencies"]), a["wall_s"]) for t, a in zip(trivial_runs, aq_runs)
             if t["latencies"] and a["latencies"] and t["wall_s"] > 0 and a["wall_s"] > 0]
    if len(pairs) < 2:
        return None
    rng = random.Random(seed)
    shares = []
    for _ in range(draws):
        drawn = [rng.choice(pairs) for _ in pairs]
        trivial_rate = sum(p[0] for p in drawn) / sum(p[1] for p in drawn)
        shares.append(sum(p[2] for p in drawn) / sum(p[3] for p in drawn) / trivial_rate)
    shares.sort()
    tail = (1 - level) / 2
    return [round(shares[int(tail * (draws - 1))], 3), round(shares[int((1 - tail) * (draws - 1))], 3)]


def _say_round(say, n: int, rounds: int, name: str, took: float, run: dict, sessions: int) -> None:
    r = _load_figure(name, [run], sessions)
    busy = (run["other_cpu_s"] or 0) > 0.1 * (os.cpu_count() or 1) * (run["wall_s"] or 0)
    say(f"  round {n + 1}/{rounds} {name:<17} ready after {took:.1f} s: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, "
        f"{r['answers_per_s']} answers/s, {r['errors']} errors (CPU s: clients {run['client_cpu_s']}, "
        f"server {run['server_cpu_s']}, rest of the machine {run['other_cpu_s']})"
        + ("; other work on this machine disturbed this round" if busy else ""))


def _round_shares(trivial_runs: list[dict], aq_runs: list[dict]) -> list[float]:
    """AQ's answers/s over the trivial endpoint's, round by round: how far one round alone can be trusted."""
    return [round(a["answers_per_s"] / t["answers_per_s"], 3) for t, a in zip(trivial_runs, aq_runs)
            if math.isfinite(t["answers_per_s"]) and t["answers_per_s"] > 0 and math.isfinite(a["answers_per_s"])]


def _llm_figures(service, n: int, say) -> list[dict]:
    """ttft_ms (the first sentence the guard released) and answer_ms per installed LLM backend."""
    from .answering import Answer
    from .embeddings import BackendMissing

    figures = []
    for backend in ("llamacpp", "openai"):
        try:
            service.answerer(backend)  # loads a local model; says when its package or file is missing
        except BackendMissing as exc:
            say(f"  {backend}: not measured ({exc})")
            continue
        first, total, actions = [], [], []
        for question in QUESTIONS[:n]:
            answer = next(item for item in service.stream(question, backend=backend) if isinstance(item, Answer))
            first.append(answer.timings.get("first_sentence_ms", answer.timings["total_ms"]))
            total.append(answer.timings["total_ms"])
            actions.append(answer.guard.action)
        ttft = _figure(f"{backend}_ttft", first)
        ttft["guard_actions"] = {a: actions.count(a) for a in sorted(set(actions))}
        figures += [ttft, _figure(f"{backend}_answer", total)]
    return figures


def _ingest_figures(chunks: int, units: int, raw_s: list[float], raw_units_s: list[float],
                    ingest_s: list[float]) -> list[dict]:
    """Raw chunk embedding, and ingest beside the raw embedding of the same texts (chunks and units)."""
    raw = _figure("embed_chunks_per_s", value=chunks * len(raw_s) / sum(raw_s), unit="chunks/s")
    raw.update(rounds=[round(chunks / x, 2) for x in raw_s], chunks=chunks, unit_texts=units,
               units_s=round(sum(raw_units_s) / len(raw_units_s), 3))
    same_texts = [r + u for r, u in zip(raw_s, raw_units_s)]
    ingest = _figure("ingest_chunks_per_s", value=chunks * len(ingest_s) / sum(ingest_s), unit="chunks/s")
    ingest.update(share_of_raw=round(sum(same_texts) / sum(ingest_s), 3), target_share=0.9,
                  share_of_chunk_embedding=round(sum(raw_s) / sum(ingest_s), 3),
                  round_shares=[round(r / i, 3) for r, i in zip(same_texts, ingest_s)],
                  rounds=[round(chunks / x, 2) for x in ingest_s])
    return [raw, ingest]


def run_bench(settings: Settings, quick: bool = False, console=None, ui: bool = True,
              load_rounds: int | None = None) -> list[dict]:
    from .answering import AnsweringService
    from .embeddings import make_embeddings
    from .indexing import corpus_chunks, glossary_for, ingest_corpus, open_searcher

    def say(msg: str) -> None:
        if console:
            console.print(msg, highlight=False)

    figures: list[dict] = []
    n_synthetic = 2000 if quick else 10_000
    copies = 3 if quick else 10
    repeats = 20 if quick else 50
    # Distinct questions for the cold figures, each figure its own (no question is asked twice in a figure).
    # (memos are cleared before each figure; the figures take disjoint slices while the pool allows)
    pool = bench_questions()
    per_figure = min(40 if quick else 240, len(pool))
    names = ("embed_query", "retrieval_shipped", "composer_answer", "retrieval_10k")
    distinct = {name: [pool[(n * per_figure + i) % len(pool)] for i in range(per_figure)] for n, name in enumerate(names)}
    figures.append(_install_figure())
    embeddings = make_embeddings(settings)
    with tempfile.TemporaryDirectory(prefix="aq-bench-") as tmp:
        tmp = Path(tmp)
        base = settings.model_copy(update={"data_dir": tmp / "shipped"})

        say(f"embedding queries ({len(pool)} distinct questions in the labelled sets)…")
        embeddings.embed_query("warm up")
        fig = _cold("embed_query", embeddings.embed_query, distinct["embed_query"])
        if hasattr(embeddings, "query_engine"):
            fig["engine"] = embeddings.query_engine
        figures.append(fig)
        figures.append(_warm("embed_query", lambda: embeddings.embed_query(random.choice(QUESTIONS)), repeats))

        say("ingesting the shipped corpus…")
        ingest_corpus(base, embeddings=embeddings)
        searcher = open_searcher(base, embeddings)
        searcher.search("warm up the BM25 index")
        figures.append(_cold("retrieval_shipped", searcher.search, distinct["retrieval_shipped"], searcher))
        figures.append(_warm("retrieval_shipped", lambda: searcher.search(random.choice(QUESTIONS)), repeats))

        # No remembered answers: composer_answer_warm repeats QUESTIONS, and is about composing them.
        service = AnsweringService(base.model_copy(update={"answer_cache_size": 0}), searcher, glossary_for(base))
        service.answer("warm up")
        figures.append(_cold("composer_answer", service.answer, distinct["composer_answer"], searcher,
                             getattr(service, "composer", None)))
        figures.append(_warm("composer_answer", lambda: service.answer(random.choice(QUESTIONS)), repeats))
        composed = [service.answer(q).timings["generate_ms"] for q in QUESTIONS]
        figures.append(_figure("composer_compose", composed))
        say("streaming LLM backends (first released sentence, whole answer)…")
        figures.extend(_llm_figures(service, 2 if quick else 5, say))

        t = time.perf_counter()
        ingest_corpus(base, embeddings=embeddings)
        figures.append(_figure("reingest_unchanged_s", value=time.perf_counter() - t, unit="s"))

        say(f"ingest throughput ({copies} copies of the corpus)…")
        many = tmp / "corpus-many"
        _copy_corpus(settings.corpus_dir, many, copies)
        bulk = settings.model_copy(update={"data_dir": tmp / "bulk", "corpus_dir": many})
        chunks, _ = corpus_chunks(bulk)
        # Ingest embeds the chunks and then their answer units (distinct texts, as embed_units does):
        # the raw figure embeds the same texts, so the share is what ingest adds around the engine.
        unit_texts = list(dict.fromkeys(u.match_text for c in chunks for u in c.units))
        # Raw embedding, then a fresh ingest of the same corpus, in turn: on a shared machine the
        # rate drifts from one minute to the next, so both are measured in each round.
        raw_s, raw_units_s, ingest_s = [], [], []
        for n in range(1 if quick else 3):
            t = time.perf_counter()
            embeddings.embed_documents([c.text for c in chunks])
            raw_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            embeddings.embed_documents(unit_texts)
            raw_units_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            ingest_corpus(bulk.model_copy(update={"data_dir": tmp / f"bulk{n}"}), embeddings=embeddings)
            ingest_s.append(time.perf_counter() - t)
        figures.extend(_ingest_figures(len(chunks), len(unit_texts), raw_s, raw_units_s, ingest_s))
        say(f"  ingest at {figures[-1]['share_of_raw']:.0%} of the raw embedding of the same texts "
            f"(chunks and answer units; target ≥ 90%), {figures[-1]['share_of_chunk_embedding']:.0%} of the chunks' alone")

        say(f"synthetic corpus of {n_synthetic} chunks…")
        sentences = sorted({s.strip() for c in chunks for s in c.body.replace("\n", " ").split(". ") if len(s.strip()) > 30})
        synth = settings.model_copy(update={"data_dir": tmp / "synthetic", "collection": "aq_bench_synthetic"})
        _synthetic_store(synth, embeddings, sentences, n_synthetic)
        big = open_searcher(synth, embeddings)
        big.search("warm up the BM25 index")
        fig = _cold("retrieval_10k", big.search, distinct["retrieval_10k"], big)
        fig["chunks"] = n_synthetic
        figures.append(fig)
        fig = _warm("retrieval_10k", lambda: big.search(random.choice(QUESTIONS)), repeats)
        fig["chunks"] = n_synthetic
        figures.append(fig)

        env = {**os.environ, "AQ_DATA_DIR": str(base.data_dir), "AQ_CORPUS_DIR": str(settings.corpus_dir),
               "AQ_BACKEND": "composer", "NO_PROXY": "127.0.0.1,localhost"}
        if settings.model_cache_dir:
            env["AQ_MODEL_CACHE_DIR"] = str(settings.model_cache_dir)
        say("`aq-coach search` as a cold process (median of 5)…")
        try:
            figures.append(_search_process_figure(env))
        except (OSError, subprocess.SubprocessError) as exc:
            say(f"search cold-process figure unavailable: {type(exc).__name__}: {exc}")

        if ui:
            say("serve ready time beside a trivial Gradio app…")
            try:
                figures.append(_serve_ready_figure(env, 1 if quick else 5, say))
            except Exception as exc:
                say(f"serve ready figure unavailable: {type(exc).__name__}: {exc}")
            say("starting the web UI…")
            try:
                figures.extend(_ui_figures(settings, base.data_dir, 10 if quick else 20, console))
            except Exception as exc:
                say(f"UI figures unavailable: {type(exc).__name__}: {exc}")
            sessions, rounds = (20, load_rounds or 1) if quick else (50, load_rounds or LOAD_ROUNDS)
            say(f"API load: {sessions} concurrent two-turn sessions on {LOAD_ENDPOINT}, a trivial Gradio endpoint "
                f"and AQ Coach, {rounds} round(s) each…")
            try:
                figures.extend(_api_load_figures(settings, base.data_dir, sessions, service, say, rounds=rounds))
            except Exception as exc:
                say(f"API load figures unavailable: {type(exc).__name__}: {exc}")
    return figures
