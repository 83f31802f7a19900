"""Retrieval quality on evals/datasets/retrieval.yaml, the BM25 index's lifetime, and `aq-coach search`."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from helpers import shipped_doctrine, shipped_judge
from typer.testing import CliRunner

from assistant.chunking import chunk_corpus
from assistant.cli import app
from assistant.corpus import Glossary, Term, load_corpus
from assistant.indexing import ingest_corpus, open_searcher
from assistant.retrieval import excerpt, expand_query, tokenize

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "evals" / "datasets" / "retrieval.yaml"
MIN_RECALL_AT_3 = 0.9


def _norm(text: str) -> str:
    text = re.sub(r"[\"'“”‘’]", "", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def matches(hit, gold: str) -> bool:
    """A hit matches a gold section: `FAQ: <question>`, `Frequently Asked Questions`, or a section title."""
    gold_n = _norm(gold)
    if gold_n.startswith("faq:"):
        return hit.kind == "faq" and _norm(hit.question) == gold_n[4:].strip()
    if gold_n == "frequently asked questions":
        return hit.kind == "faq"
    return _norm(hit.section) == gold_n


@pytest.fixture(scope="module")
def dataset() -> dict:
    return yaml.safe_load(DATASET.read_text(encoding="utf-8"))


def test_every_gold_section_exists(dataset):
    """A gold label that names no chunk could never be hit: catch typos in the data set."""
    articles, _ = load_corpus(ROOT / "corpus")
    chunks = chunk_corpus(articles, 700, 0, shipped_doctrine(), shipped_judge())
    for case in dataset["cases"]:
        for gold in case["gold_sections"]:
            assert any(matches(c, gold) for c in chunks), f"{case['id']}: {gold!r} names no chunk"


def test_retrieval_recall_and_mrr(dataset, searcher):
    cases = dataset["cases"]
    assert len(cases) >= 20
    assert len({c["id"] for c in cases}) == len(cases)
    hits_at_3, reciprocal_ranks, misses = 0, [], []
    for case in cases:
        top3 = searcher.search(case["question"], k=3)
        assert len(top3) == 3
        if any(matches(h, g) for h in top3 for g in case["gold_sections"]):
            hits_at_3 += 1
        else:
            misses.append(case["id"])
        top10 = searcher.search(case["question"], k=10)
        rank = next((i for i, h in enumerate(top10, 1) if any(matches(h, g) for g in case["gold_sections"])), None)
        reciprocal_ranks.append(1.0 / rank if rank else 0.0)
    recall = hits_at_3 / len(cases)
    mrr = sum(reciprocal_ranks) / len(cases)
    print(f"\nretrieval: {len(cases)} cases, recall@3 = {recall:.3f}, MRR@10 = {mrr:.3f}, misses@3 = {misses}")
    threshold = max(MIN_RECALL_AT_3, float((dataset.get("thresholds") or {}).get("recall_at_3", 0)))
    assert recall >= threshold, f"recall@3 {recall:.3f} < {threshold} (misses: {misses})"


def test_search_results_are_ranked_and_distinct(searcher):
    hits = searcher.search("why does my sprint feel heavy and disconnected", k=8)
    assert len(hits) == 8
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.id for h in hits}) == 8
    assert all(h.bm25_rank is not None or h.vector_rank is not None for h in hits)
    assert searcher.search("   ", k=3) == []


def test_bm25_index_is_built_once_per_index_version(settings, embeddings):
    ingest_corpus(settings, embeddings=embeddings)
    searcher = open_searcher(settings, embeddings)
    searcher.search("coordination", k=3)
    first, version = searcher._bm25, searcher.version
    assert first is not None and version
    searcher.search("rhythm and timing", k=3)
    assert searcher._bm25 is first

    time.sleep(1.1)  # the version is re-read at most once a second
    ingest_corpus(settings, embeddings=embeddings)  # nothing changed: same version
    searcher.search("coordination", k=3)
    assert searcher._bm25 is first and searcher.version == version

    article = next(settings.corpus_dir.glob("*.md"))
    text = article.read_text(encoding="utf-8")
    marker = "Zanzibarian hurdle cadence is a made-up phrase for this test."
    article.write_text(text.replace("At least generally.", f"At least generally.\n\n{marker}"), encoding="utf-8")
    ingest_corpus(settings, embeddings=embeddings)
    time.sleep(1.1)
    hits = searcher.search("zanzibarian hurdle cadence", k=3)
    assert searcher._bm25 is not first and searcher.version != version
    assert marker in hits[0].text and hits[0].bm25_rank == 1
    rebuilt = searcher._bm25
    searcher.search("coordination", k=3)
    assert searcher._bm25 is rebuilt


# --- pure functions ----------------------------------------------------------------------------

GLOSSARY = Glossary([
    Term("swing side", "d", everyday=("arms", "knee drive", "front leg")),
    Term("contributor timing", "d", everyday=("rhythm", "feels off", "in sync")),
])


@pytest.mark.parametrize(
    ("query", "added"),
    [
        ("my arms feel loose", ["swing side"]),
        ("my arm is loose", ["swing side"]),
        ("the rhythm feels off", ["contributor timing"]),
        ("Knee-drive and rhythm", ["swing side", "contributor timing"]),
        ("what is the weather", []),
    ],
)
def test_expand_query(query, added):
    expanded = expand_query(query, GLOSSARY)
    assert expanded.startswith(query)
    extra = expanded[len(query):].strip()
    assert extra == " ".join(added)


def test_expand_query_keeps_named_terms_once():
    assert expand_query("swing side and my arms", GLOSSARY) == "swing side and my arms"
    assert expand_query("my arms", None) == "my arms"


def test_tokenize():
    assert tokenize("athlete’s") == tokenize("athlete's") == tokenize("athletes") == ["athlet"]
    # question words are stop words; "not" and "off" keep their meaning
    assert tokenize("Why does my sprint feel off?") == ["sprint", "feel", "off"]
    assert "not" in tokenize("it isn't coordination") and "not" in tokenize("not the cause")
    assert tokenize("swing-side thrust") == tokenize("swing side thrust")
    assert tokenize("What's the...") == []


def test_excerpt():
    text = "Section\nFirst line\n- one\n- two\n" + "word " * 100
    short = excerpt(text, limit=60)
    assert len(short) <= 60 and short.endswith("…")
    assert short.startswith("First line; one; two")
    assert excerpt("Section\nShort body.") == "Short body."


# --- CLI -----------------------------------------------------------------------------------------

@pytest.fixture
def index_env(indexed_settings, monkeypatch):
    monkeypatch.setenv("AQ_DATA_DIR", str(indexed_settings.data_dir))
    monkeypatch.setenv("AQ_CORPUS_DIR", str(indexed_settings.corpus_dir))
    return indexed_settings


def test_cli_search_json(index_env):
    result = CliRunner().invoke(app, ["search", "why does sprinting feel off some days", "--json", "--k", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "why does sprinting feel off some days"
    assert len(data["results"]) == 3
    for hit in data["results"]:
        assert {"id", "title", "section", "score", "excerpt"} <= set(hit)
        assert re.fullmatch(r"[0-9a-f]{32}", hit["id"])
        assert hit["title"] == "What Exactly Is Coordination in Running?"
        assert hit["section"] and hit["excerpt"] and isinstance(hit["score"], float)
        assert "text" not in hit
    assert any(_norm(h["section"]) == "why sprinting sometimes suddenly feels off" or h["kind"] == "faq"
               for h in data["results"])


def test_cli_search_table(index_env):
    result = CliRunner().invoke(app, ["search", "swing side thrust"])
    assert result.exit_code == 0, result.output
    assert "search: swing side thrust" in result.stdout


@pytest.mark.parametrize("query", ["", "   "])
def test_cli_search_empty_query(index_env, query):
    result = CliRunner().invoke(app, ["search", query])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "query is empty" in lines[0]


def test_cli_search_without_an_index(tmp_path, monkeypatch):
    monkeypatch.setenv("AQ_DATA_DIR", str(tmp_path / "empty-data"))
    result = CliRunner().invoke(app, ["search", "coordination"])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "index is empty" in lines[0] and "aq-coach ingest" in lines[0]


def test_the_in_memory_vector_ranks_agree_with_chromas_own_query(indexed_settings, embeddings):
    """The searcher ranks by an exact dot product over the vectors it read from Chroma; Chroma's own
    nearest-neighbour query over the same collection must find the same chunks first."""
    from assistant.indexing import open_searcher
    from assistant.store import get_collection

    vector_only = open_searcher(indexed_settings.model_copy(update={"bm25_weight": 0.0}), embeddings)
    collection = get_collection(indexed_settings)
    for question in ["What is contributor timing?", "Why does my sprint feel heavy?", "What is swing-side thrust?"]:
        hits = vector_only.search(question, 5)
        ours = [h.id for h in sorted(hits, key=lambda h: h.vector_rank or 99)][:3]
        found = collection.query(query_embeddings=[embeddings.embed_query(question)], n_results=3, include=["metadatas"])
        theirs = [str(m.get("id", i)) for i, m in zip(found["ids"][0], found["metadatas"][0])]
        assert [h.vector_rank for h in hits[:3]] == [1, 2, 3], question
        assert ours == theirs, question


def test_a_questions_vector_does_not_depend_on_the_batch_it_is_padded_into(embeddings):
    """Concurrent questions are encoded in one batch (MiniLMEmbeddings.embed_query); the same question
    must get the same vector alone or beside a long one, or its answer would change under load."""
    import numpy as np

    question = "What is contributor timing?"
    alone = np.array(embeddings.embed_documents([question])[0])
    padded = np.array(embeddings.embed_documents([question, "How do I keep sprint-system continuity " * 12])[0])
    assert np.abs(alone - padded).max() < 1e-5


def test_the_index_status_is_read_at_most_once_a_second(indexed_settings, embeddings, monkeypatch):
    """Every answer asks whether the index can answer; Chroma is asked at most once per max_age_s."""
    from assistant.indexing import open_searcher

    fresh = open_searcher(indexed_settings, embeddings)
    reads = []
    real = fresh.status
    monkeypatch.setattr(fresh, "status", lambda: reads.append(1) or real())
    first = fresh.current_status()
    for _ in range(20):
        assert fresh.current_status() == first
    assert len(reads) == 1
    fresh.current_status(max_age_s=0)
    assert len(reads) == 2


def test_the_langchain_retriever_gives_the_searchers_hits_as_documents(searcher):
    from assistant.retriever import HybridRetriever

    docs = HybridRetriever(searcher=searcher, k=3).invoke("why does my top speed feel rushed?")
    hits = searcher.search("why does my top speed feel rushed?", 3)
    assert [d.page_content for d in docs] == [h.text for h in hits]
    assert all(d.metadata.get("id") for d in docs)


def test_a_search_imports_no_langchain_retriever_or_embeddings_base():
    # together they cost a cold `aq-coach search` about 0.4 s (aq-coach bench: search_cold_process_s)
    import subprocess
    import sys

    code = ("import sys, assistant.retrieval, assistant.embeddings, assistant.indexing; "
            "print(sorted(m for m in ('langchain_core.retrievers', 'langchain_core.embeddings') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_embedder_is_a_langchain_embeddings_where_langchain_needs_one(embeddings):
    from langchain_core.embeddings import Embeddings

    from assistant.embeddings import as_langchain

    assert isinstance(as_langchain(embeddings), Embeddings)
