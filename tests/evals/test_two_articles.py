"""A second article, imported with `aq-coach import` next to the seed, ingested and asked questions.

`smooth-form` (tests/fixtures) was written in AQ's style for testing only and never ships in
corpus/. Here it is imported, exactly as a maintainer would import a new article, into a temporary
copy of the corpus; the helpfulness dataset then runs on both articles (its 16 smooth-form cases
included) with the real MiniLM and embedded Chroma. No code knows either article.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.evals import runner
from assistant.evals.datasets import load_dataset

ROOT = Path(__file__).resolve().parent.parent.parent
RAW = ROOT / "tests" / "fixtures" / "smooth-form.raw.txt"
DATASET = ROOT / "evals" / "datasets" / "helpfulness.yaml"
SLUG = "why-running-smooth-may-be-more-than-just-good-form"

# The dataset's own thresholds (what `aq-coach eval` enforces), and 100% framing.
FLOORS = {"framing": 1.0, **load_dataset(DATASET).thresholds}


@pytest.fixture(scope="module")
def two_articles(tmp_path_factory, embeddings):
    from assistant.config import get_settings
    from assistant.indexing import ingest_corpus

    base = tmp_path_factory.mktemp("two-articles")
    corpus = base / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    done = subprocess.run([sys.executable, "-m", "assistant", "import", str(RAW), "--corpus", str(corpus), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["imported"][0]
    settings = get_settings(data_dir=base / "data", corpus_dir=corpus)
    ingest_corpus(settings, embeddings=embeddings)
    return settings, report


@pytest.fixture(scope="module")
def results(two_articles, embeddings):
    from assistant.answering import AnsweringService
    from assistant.indexing import glossary_for, open_searcher

    settings, _ = two_articles
    service = AnsweringService(settings, open_searcher(settings, embeddings), glossary_for(settings))
    return runner.run_service(load_dataset(DATASET), service, embeddings=embeddings)


def test_the_import_report_is_clean(two_articles):
    settings, report = two_articles
    assert Path(report["path"]).name == f"{SLUG}.md"
    assert report["residue"] == 0 and report["repairs"] > 50
    assert report["ambiguous"] == len(report["ambiguous_lines"])
    text = Path(report["path"]).read_text(encoding="utf-8")
    clean = (ROOT / "tests" / "fixtures" / "smooth-form.clean.txt").read_text(encoding="utf-8")
    # every ✅ line of the original stays ✅ (or loses its mark when ambiguous); none becomes ❌
    for line in clean.splitlines():
        if line.startswith("✅"):
            words = line[1:].strip()
            assert f"❌ {words}" not in text and f"❌{words}" not in text


def test_at_least_twelve_questions_ask_the_new_article(results):
    on_new = [r for r in results if r.article == SLUG]
    assert len(on_new) >= 12
    assert all(r.verdict != runner.SKIPPED for r in on_new), [r.skipped for r in on_new if r.skipped]


def _rate(results, check: str, cases=None) -> tuple[float, list[str]]:
    rows = [(r.id, r.check(check)) for r in (cases or results) if r.check(check) is not None]
    passed = [i for i, c in rows if c.verdict == "pass"]
    return len(passed) / len(rows), [i for i, c in rows if c.verdict != "pass"]


@pytest.mark.parametrize("check", sorted(FLOORS))
def test_helpfulness_holds_on_both_articles(results, check):
    rate, failing = _rate(results, check)
    assert rate >= FLOORS[check], f"{check}: {rate:.3f} < {FLOORS[check]} (failing: {failing})"


@pytest.mark.xfail(strict=True, reason="known regression of the per-kind answer shapes (issue 25, open): 14 of the "
                   "smooth-form article's 16 cases meet their key points (hf-08, hf-13 miss one point each), under the "
                   "0.9 floor; strict, so it fails loudly once fixed and the marker must go")
def test_the_new_article_is_answered_from_its_own_passages(results, two_articles):
    settings, _ = two_articles
    on_new = [r for r in results if r.article == SLUG]
    rate, failing = _rate(results, "key_points", on_new)
    assert rate >= FLOORS["key_points"], failing
    # the answers quote the new article: its words, not only the seed's
    assert sum("form" in r.answer.lower() for r in on_new) >= 10


@pytest.fixture(scope="module")
def seed_results(service, embeddings):
    """The same dataset on the shipped corpus alone: the new article's cases are skipped."""
    return runner.run_service(load_dataset(DATASET), service, embeddings=embeddings)


@pytest.mark.parametrize("check", sorted(FLOORS))
def test_helpfulness_holds_on_the_seed_alone(seed_results, check):
    answered = [r for r in seed_results if r.verdict != runner.SKIPPED]
    assert len(answered) >= 40 and all(r.article != SLUG for r in answered)
    rate, failing = _rate(answered, check)
    assert rate >= FLOORS[check], f"{check}: {rate:.3f} < {FLOORS[check]} (failing: {failing})"
