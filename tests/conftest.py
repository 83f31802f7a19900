"""Shared fixtures: a temporary corpus and data dir per test, and one real index per session.

The real MiniLM model and a real embedded Chroma are used wherever users meet them; the
session-scoped index is built once so the suite stays fast on 2 cores.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SEED_RAW = ROOT / "tests" / "fixtures" / "aq-what-exactly-is-coordination-in-running.raw.txt"
SHIPPED_CORPUS = ROOT / "corpus"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's .env or AQ_* settings, or writes into the repo's data/."""
    for key in list(os.environ):
        if key.startswith("AQ_") or key in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AQ_CORPUS_DIR", str(SHIPPED_CORPUS))


@pytest.fixture(scope="session")
def seed_raw() -> Path:
    return SEED_RAW


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    """A writable copy of the shipped corpus (repaired article + glossary)."""
    target = tmp_path / "corpus"
    shutil.copytree(SHIPPED_CORPUS, target)
    return target


@pytest.fixture
def settings(tmp_path, corpus_dir):
    from assistant.config import get_settings

    return get_settings(data_dir=tmp_path / "data", corpus_dir=corpus_dir)


@pytest.fixture(scope="session")
def embeddings():
    """The real offline MiniLM, loaded once."""
    from assistant.config import Settings
    from assistant.embeddings import make_embeddings

    return make_embeddings(Settings())


@pytest.fixture(scope="session")
def indexed_settings(tmp_path_factory, embeddings):
    """Settings pointing at a real embedded Chroma holding the shipped corpus, built once per session."""
    from assistant.config import Settings
    from assistant.indexing import ingest_corpus

    data = tmp_path_factory.mktemp("index")
    s = Settings(data_dir=data, corpus_dir=SHIPPED_CORPUS)
    ingest_corpus(s, embeddings=embeddings)
    return s


@pytest.fixture(scope="session")
def searcher(indexed_settings, embeddings):
    from assistant.indexing import open_searcher

    return open_searcher(indexed_settings, embeddings)


@pytest.fixture(scope="session")
def glossary(indexed_settings):
    from assistant.indexing import glossary_for

    return glossary_for(indexed_settings)


@pytest.fixture(scope="session")
def service(indexed_settings, searcher, glossary):
    """The real answering service (composer) over the session index. It remembers no answers, so a
    test's question is answered afresh whatever earlier tests asked (test_answering covers the cache)."""
    from assistant.answering import AnsweringService

    return AnsweringService(indexed_settings.model_copy(update={"answer_cache_size": 0}), searcher, glossary)


@pytest.fixture(scope="session")
def planner(service):
    """The question planner the session's service uses (its model trained once from the labelled set)."""
    return service.planner


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL, started for this test session on loopback and stopped after it."""
    import tempfile

    from helpers import PostgresCluster, free_port

    base = tempfile.mkdtemp(prefix="aq-pg-")  # not under pytest's root-only temp dir: the server runs as postgres
    cluster = PostgresCluster(base, free_port()).start()
    yield cluster.url
    cluster.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL."""
    from helpers import fresh_postgres_database

    return fresh_postgres_database(postgres_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Each test using it runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.sqlite'}"
    return request.getfixturevalue("postgres_db")
