"""`aq-coach bench`: figures measured on this machine, printed, never asserted.

Everything runs in a temporary data dir, so the athlete's index is never touched. The 10k
retrieval corpus is synthetic: chunks made of shuffled corpus sentences. Their vectors are the
normalised mean of their sentences' real MiniLM vectors, so the store holds 10,000 realistic
vectors without spending minutes embedding them; the query side is embedded for real.

The API load figures (api_load_aq, api_load_trivial, api_load_ratio) run concurrent two-turn
`gradio_client` sessions on /chat_with_history against `aq-coach serve` (composer) and against a
trivial Gradio endpoint with the same queue and concurrency settings (assistant/bench/trivial.py),
in alternating order over LOAD_ROUNDS rounds, each on a freshly started server, from the first
request after it is ready. The clients run in a process of their own (assistant/bench/clients.py).
Every AQ answer is compared with the in-process service's answer for
the same conversation.

Latency figures come twice. *Cold* (`embed_query`, `retrieval_shipped`, `retrieval_10k`,
`composer_answer`; "state": "cold"): distinct questions from the labelled question sets
(evals/datasets/plan/*.yaml, else evals/datasets/*.yaml), each asked once, after every memo keyed
by text is cleared (the searcher's question vectors, the tokenizer's, the guard's and the
composer's lru caches): what a new athlete's question costs. *Warm* (the same names + `_warm`):
the 10 QUESTIONS asked again and again, mostly memo hits. `insights`: `aq-coach insights` over
10,000 stored questions (assistant/bench/insights.py), target ≤ 10 s. Beside them: the install size
of the environment the bench runs in, `aq-coach search` as a cold process (median of 5), and how long
`aq-coach serve` takes to be ready beside a trivial Gradio app (a Chatbot and a Textbox) started
in the same run.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from .figures import (
    QUESTIONS,
    bench_questions,
    clear_memos,
    cold,
    copy_corpus,
    figure,
    ingest_figures,
    install_figure,
    install_size_mb,
    llm_figures,
    synthetic_store,
    warm,
)
from .load import LOAD_ENDPOINT, LOAD_ROUNDS, api_load, api_load_figures, share_interval
from .servers import search_process_figure, serve_ready_figure, ui_figures

__all__ = ["QUESTIONS", "api_load", "bench_questions", "clear_memos", "install_size_mb", "run_bench", "share_interval"]


@dataclass
class _Run:
    """What every stage of one bench run shares."""

    settings: Settings
    quick: bool
    say: Callable[[str], None]
    tmp: Path
    embeddings: object
    distinct: dict[str, list[str]]  # each cold figure's own distinct questions

    @property
    def repeats(self) -> int:
        return 20 if self.quick else 50

    @property
    def base(self) -> Settings:
        """The shipped corpus, indexed in the run's own data dir (the athlete's is never touched)."""
        return self.settings.model_copy(update={"data_dir": self.tmp / "shipped"})


def run_bench(settings: Settings, quick: bool = False, console=None, ui: bool = True,
              load_rounds: int | None = None) -> list[dict]:
    from ..embeddings import make_embeddings

    def say(msg: str) -> None:
        if console:
            console.print(msg, highlight=False)

    figures: list[dict] = [install_figure()]
    with tempfile.TemporaryDirectory(prefix="aq-bench-") as tmp:
        run = _Run(settings, quick, say, Path(tmp), make_embeddings(settings), _distinct_questions(quick, say))
        service, answering = _answering_figures(run)
        chunks, ingest = _ingest_throughput(run)
        figures += answering + ingest + _synthetic_figures(run, chunks) + [_insights_figure(run)]
        figures += _process_figures(run, service, console, ui, load_rounds)
    return figures


def _distinct_questions(quick: bool, say) -> dict[str, list[str]]:
    """Distinct questions for the cold figures, each figure its own: no question is asked twice in a
    figure (memos are cleared before each), and the figures take disjoint slices while the pool allows."""
    pool = bench_questions()
    say(f"{len(pool)} distinct questions in the labelled sets for the cold figures…")
    per_figure = min(40 if quick else 240, len(pool))
    names = ("embed_query", "retrieval_shipped", "composer_answer", "retrieval_10k")
    return {name: [pool[(n * per_figure + i) % len(pool)] for i in range(per_figure)] for n, name in enumerate(names)}


def _answering_figures(run: _Run):
    """Query embedding, retrieval and composer answers on the shipped corpus, cold and warm; the LLM backends."""
    from ..answering import AnsweringService
    from ..indexing import glossary_for, ingest_corpus, open_searcher

    embeddings, base, figures = run.embeddings, run.base, []
    run.say("embedding queries…")
    embeddings.embed_query("warm up")
    fig = cold("embed_query", embeddings.embed_query, run.distinct["embed_query"])
    if hasattr(embeddings, "query_engine"):
        fig["engine"] = embeddings.query_engine
    figures.append(fig)
    figures.append(warm("embed_query", lambda: embeddings.embed_query(random.choice(QUESTIONS)), run.repeats))

    run.say("ingesting the shipped corpus…")
    ingest_corpus(base, embeddings=embeddings)
    searcher = open_searcher(base, embeddings)
    searcher.search("warm up the BM25 index")
    figures.append(cold("retrieval_shipped", searcher.search, run.distinct["retrieval_shipped"], searcher))
    figures.append(warm("retrieval_shipped", lambda: searcher.search(random.choice(QUESTIONS)), run.repeats))

    # No remembered answers: composer_answer_warm repeats QUESTIONS, and is about composing them.
    service = AnsweringService(base.model_copy(update={"answer_cache_size": 0}), searcher, glossary_for(base))
    service.answer("warm up")
    figures.append(cold("composer_answer", service.answer, run.distinct["composer_answer"], searcher,
                        getattr(service, "composer", None)))
    figures.append(warm("composer_answer", lambda: service.answer(random.choice(QUESTIONS)), run.repeats))
    figures.append(figure("composer_compose", [service.answer(q).timings["generate_ms"] for q in QUESTIONS]))
    run.say("streaming LLM backends (first released sentence, whole answer)…")
    figures.extend(llm_figures(service, 2 if run.quick else 5, run.say))

    t = time.perf_counter()
    ingest_corpus(base, embeddings=embeddings)
    figures.append(figure("reingest_unchanged_s", value=time.perf_counter() - t, unit="s"))
    return service, figures


def _ingest_throughput(run: _Run):
    """Raw embedding of what ingest embeds, then a fresh ingest of the same corpus copies, in turn:
    on a shared machine the rate drifts from one minute to the next, so both are measured each round."""
    from ..indexing import corpus_chunks, ingest_corpus

    copies = 3 if run.quick else 10
    run.say(f"ingest throughput ({copies} copies of the corpus)…")
    many = run.tmp / "corpus-many"
    copy_corpus(run.settings.corpus_dir, many, copies)
    bulk = run.settings.model_copy(update={"data_dir": run.tmp / "bulk", "corpus_dir": many})
    chunks, _ = corpus_chunks(bulk)
    # Ingest embeds the chunks and then their answer units (distinct texts, as embed_units does):
    # the raw figure embeds the same texts, so the share is what ingest adds around the engine.
    unit_texts = list(dict.fromkeys(u.match_text for c in chunks for u in c.units))
    raw_s, raw_units_s, ingest_s = [], [], []
    for n in range(1 if run.quick else 3):
        t = time.perf_counter()
        run.embeddings.embed_documents([c.text for c in chunks])
        raw_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        run.embeddings.embed_documents(unit_texts)
        raw_units_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        ingest_corpus(bulk.model_copy(update={"data_dir": run.tmp / f"bulk{n}"}), embeddings=run.embeddings)
        ingest_s.append(time.perf_counter() - t)
    figures = ingest_figures(len(chunks), len(unit_texts), raw_s, raw_units_s, ingest_s)
    run.say(f"  ingest at {figures[-1]['share_of_raw']:.0%} of the raw embedding of the same texts "
            f"(chunks and answer units; target ≥ 90%), {figures[-1]['share_of_chunk_embedding']:.0%} of the chunks' alone")
    return chunks, figures


def _synthetic_figures(run: _Run, chunks) -> list[dict]:
    """Retrieval over a synthetic store of 2,000 (quick) or 10,000 chunks, cold and warm."""
    from ..indexing import open_searcher

    n_synthetic = 2000 if run.quick else 10_000
    run.say(f"synthetic corpus of {n_synthetic} chunks…")
    sentences = sorted({s.strip() for c in chunks for s in c.body.replace("\n", " ").split(". ") if len(s.strip()) > 30})
    synth = run.settings.model_copy(update={"data_dir": run.tmp / "synthetic", "collection": "aq_bench_synthetic"})
    synthetic_store(synth, run.embeddings, sentences, n_synthetic)
    big = open_searcher(synth, run.embeddings)
    big.search("warm up the BM25 index")
    figures = [cold("retrieval_10k", big.search, run.distinct["retrieval_10k"], big),
               warm("retrieval_10k", lambda: big.search(random.choice(QUESTIONS)), run.repeats)]
    for fig in figures:
        fig["chunks"] = n_synthetic
    return figures


def _insights_figure(run: _Run) -> dict:
    """`aq-coach insights` over 10,000 stored questions (synthetic, with stored vectors): target ≤ 10 s."""
    from .insights import TARGET_S, insights_figure

    run.say(f"insights over 10,000 stored questions (target ≤ {TARGET_S:.0f} s)…")
    return insights_figure(run.base, run.embeddings, run.tmp, 10_000, runs=1 if run.quick else 3)


def _process_figures(run: _Run, service, console, ui: bool, load_rounds: int | None) -> list[dict]:
    """Figures of fresh processes: a cold `aq-coach search`, `serve` ready, the UI and the API under load."""
    settings, say, data_dir, figures = run.settings, run.say, run.base.data_dir, []
    env = {**os.environ, "AQ_DATA_DIR": str(data_dir), "AQ_CORPUS_DIR": str(settings.corpus_dir),
           "AQ_BACKEND": "composer", "NO_PROXY": "127.0.0.1,localhost"}
    if settings.model_cache_dir:
        env["AQ_MODEL_CACHE_DIR"] = str(settings.model_cache_dir)
    say("`aq-coach search` as a cold process (median of 5)…")
    try:
        figures.append(search_process_figure(env))
    except (OSError, subprocess.SubprocessError) as exc:
        say(f"search cold-process figure unavailable: {type(exc).__name__}: {exc}")
    if not ui:
        return figures
    say("serve ready time beside a trivial Gradio app…")
    try:
        figures.append(serve_ready_figure(env, 1 if run.quick else 5, say))
    except Exception as exc:
        say(f"serve ready figure unavailable: {type(exc).__name__}: {exc}")
    say("starting the web UI…")
    try:
        figures.extend(ui_figures(settings, data_dir, 10 if run.quick else 20, console))
    except Exception as exc:
        say(f"UI figures unavailable: {type(exc).__name__}: {exc}")
    sessions, rounds = (20, load_rounds or 1) if run.quick else (50, load_rounds or LOAD_ROUNDS)
    say(f"API load: {sessions} concurrent two-turn sessions on {LOAD_ENDPOINT}, a trivial Gradio endpoint "
        f"and AQ Coach, {rounds} round(s) each…")
    try:
        figures.extend(api_load_figures(settings, data_dir, sessions, service, say, rounds=rounds))
    except Exception as exc:
        say(f"API load figures unavailable: {type(exc).__name__}: {exc}")
    return figures
