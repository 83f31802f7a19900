"""`aq-coach bench`: figures measured on this machine, printed, never asserted.

Everything runs in a temporary data dir, so the athlete's index is never touched. The 10k
retrieval corpus is synthetic: chunks made of shuffled corpus sentences. Their vectors are the
normalised mean of their sentences' real MiniLM vectors, so the store holds 10,000 realistic
vectors without spending minutes embedding them; the query side is embedded for real.
"""

from __future__ import annotations

import contextlib
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


def _llm_figures(service, n: int, say) -> list[dict]:
    """ttft_ms (the first sentence the guard released) and answer_ms per installed LLM backend."""
    from .answering import Answer
    from .embeddings import BackendMissing

    figures = []
    for backend in ("llamacpp", "openai"):
        try:
            if service.llm(backend) is None:
                continue
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


def run_bench(settings: Settings, quick: bool = False, console=None, ui: bool = True) -> list[dict]:
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
    embeddings = make_embeddings(settings)
    with tempfile.TemporaryDirectory(prefix="aq-bench-") as tmp:
        tmp = Path(tmp)
        base = settings.model_copy(update={"data_dir": tmp / "shipped"})

        say("embedding queries…")
        embeddings.embed_query("warm up")
        figures.append(_figure("embed_query", _timed(lambda: embeddings.embed_query(random.choice(QUESTIONS)), repeats)))

        say("ingesting the shipped corpus…")
        ingest_corpus(base, embeddings=embeddings)
        searcher = open_searcher(base, embeddings)
        figures.append(_figure("retrieval_shipped", _timed(lambda: searcher.search(random.choice(QUESTIONS)), repeats)))

        service = AnsweringService(base, searcher, glossary_for(base))
        figures.append(_figure("composer_answer", _timed(lambda: service.answer(random.choice(QUESTIONS)), repeats)))
        composed = [service.answer(q).timings["compose_ms"] for q in QUESTIONS]
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
        t = time.perf_counter()
        embeddings.embed_documents([c.text for c in chunks])
        raw = len(chunks) / (time.perf_counter() - t)
        t = time.perf_counter()
        ingest_corpus(bulk, embeddings=embeddings)
        ingest_rate = len(chunks) / (time.perf_counter() - t)
        figures.append(_figure("embed_chunks_per_s", value=raw, unit="chunks/s"))
        fig = _figure("ingest_chunks_per_s", value=ingest_rate, unit="chunks/s")
        fig["share_of_raw"] = round(ingest_rate / raw, 3)
        figures.append(fig)

        say(f"synthetic corpus of {n_synthetic} chunks…")
        sentences = sorted({s.strip() for c in chunks for s in c.body.replace("\n", " ").split(". ") if len(s.strip()) > 30})
        synth = settings.model_copy(update={"data_dir": tmp / "synthetic", "collection": "aq_bench_synthetic"})
        _synthetic_store(synth, embeddings, sentences, n_synthetic)
        big = open_searcher(synth, embeddings)
        big.search("warm up the BM25 index")
        fig = _figure("retrieval_10k", _timed(lambda: big.search(random.choice(QUESTIONS)), repeats))
        fig["chunks"] = n_synthetic
        figures.append(fig)

        if ui:
            say("starting the web UI…")
            try:
                figures.extend(_ui_figures(settings, base.data_dir, 10 if quick else 20, console))
            except Exception as exc:
                say(f"UI figures unavailable: {type(exc).__name__}: {exc}")
    return figures
