"""The bench's figures and what they are measured on: the questions (cold: distinct, memos cleared;
warm: the same ten again), the corpus copies for ingest, the synthetic 10k store, the install size."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..config import Settings

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


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return round(p50, 2), round(p95, 2)


def timed(fn: Callable[[], object], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def figure(name: str, samples_ms: list[float] | None = None, value: float | None = None, unit: str = "ms") -> dict:
    p50, p95 = percentiles(samples_ms) if samples_ms else (None, None)
    return {"name": name, "p50_ms": p50, "p95_ms": p95, "value": round(value, 3) if value is not None else p50, "unit": unit}


def bench_questions(root: Path | None = None) -> list[str]:
    """Distinct athlete questions for the cold figures: the labelled plan sets
    (evals/datasets/plan/*.yaml, families[].questions[].q) when they exist, else the questions of
    the eval sets (evals/datasets/*.yaml, cases[].question), shuffled with a fixed seed."""
    import yaml

    from ..config import PROJECT_ROOT

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
    (`_vectors`) of the searchers and composers given, and their framing judge's sentence memo. Returns
    how many were cleared."""
    import functools
    import inspect

    cleared = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith(__package__.split(".")[0] + ".") or module is None:
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
        judged = getattr(getattr(holder, "framing", None), "_analyse", None)
        if hasattr(judged, "cache_clear"):
            judged.cache_clear()
            cleared += 1
    return cleared


def cold(name: str, fn: Callable[[str], object], questions: list[str], *holders) -> dict:
    """fn once per distinct question, after the memos are cleared: the figure a new question costs."""
    clear_memos(*holders)
    samples = []
    for q in questions:
        t = time.perf_counter()
        fn(q)
        samples.append((time.perf_counter() - t) * 1000)
    fig = figure(name, samples)
    fig.update(state="cold", questions=len(questions))
    return fig


def warm(name: str, fn: Callable[[], object], repeats: int) -> dict:
    """fn on the 10 QUESTIONS again and again: mostly memo hits."""
    fig = figure(f"{name}_warm", timed(fn, repeats))
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


def install_figure() -> dict:
    import importlib.util

    fig = figure("install_size_mb", value=install_size_mb(), unit="MB")
    fig.update(prefix=sys.prefix, torch_installed=importlib.util.find_spec("torch") is not None, target_mb=1100)
    return fig


def copy_corpus(src: Path, dst: Path, copies: int) -> None:
    """The shipped corpus, repeated with distinct slugs, so ingest has enough work to measure."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in src.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        for n in range(copies):
            (dst / f"{path.stem}-{n}.md").write_text(text.replace("slug: ", f"slug: copy{n}-", 1), encoding="utf-8")
    for extra in src.glob("*.yaml"):
        shutil.copy(extra, dst / extra.name)


def synthetic_store(settings: Settings, embeddings, sentences: list[str], n_chunks: int, seed: int = 7) -> None:
    import numpy as np

    from ..store import get_collection, open_client

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


def llm_figures(service, n: int, say) -> list[dict]:
    """ttft_ms (the first sentence the guard released) and answer_ms per installed LLM backend."""
    from ..answering import Answer
    from ..embeddings import BackendMissing

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
        ttft = figure(f"{backend}_ttft", first)
        ttft["guard_actions"] = {a: actions.count(a) for a in sorted(set(actions))}
        figures += [ttft, figure(f"{backend}_answer", total)]
    return figures


def ingest_figures(chunks: int, units: int, raw_s: list[float], raw_units_s: list[float],
                    ingest_s: list[float]) -> list[dict]:
    """Raw chunk embedding, and ingest beside the raw embedding of the same texts (chunks and units)."""
    raw = figure("embed_chunks_per_s", value=chunks * len(raw_s) / sum(raw_s), unit="chunks/s")
    raw.update(rounds=[round(chunks / x, 2) for x in raw_s], chunks=chunks, unit_texts=units,
               units_s=round(sum(raw_units_s) / len(raw_units_s), 3))
    same_texts = [r + u for r, u in zip(raw_s, raw_units_s)]
    ingest = figure("ingest_chunks_per_s", value=chunks * len(ingest_s) / sum(ingest_s), unit="chunks/s")
    ingest.update(share_of_raw=round(sum(same_texts) / sum(ingest_s), 3), target_share=0.9,
                  share_of_chunk_embedding=round(sum(raw_s) / sum(ingest_s), 3),
                  round_shares=[round(r / i, 3) for r, i in zip(same_texts, ingest_s)],
                  rounds=[round(chunks / x, 2) for x in ingest_s])
    return [raw, ingest]
