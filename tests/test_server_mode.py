"""Server mode: AQ Coach against a real `chroma run` server on 127.0.0.1 instead of the embedded store.

A module fixture starts the Chroma CLI that chromadb ships (`chroma run --path TMP --host
127.0.0.1 --port FREE`) as a subprocess, waits for its heartbeat and stops it on teardown. The
same ingest → re-ingest → search → answer path the embedded store takes is then run through the
service functions and through the CLI (AQ_CHROMA_HOST / AQ_CHROMA_PORT). A port with no server
behind it must give one clear error, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import free_port as _free_port
from helpers import start_chroma_server, stop_process
from typer.testing import CliRunner

from assistant.cli import app

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = ROOT / "corpus"
STARTUP_TIMEOUT_S = 60
OFF_QUESTION = "why does sprinting feel off some days"
OFF_SECTION = "Why Sprinting Sometimes Suddenly Feels “Off”"


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A real Chroma server on a free loopback port, with its own persistence folder."""
    path = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    try:
        proc = start_chroma_server(path, port, STARTUP_TIMEOUT_S)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield port
    finally:
        stop_process(proc, 10)


@pytest.fixture
def server_settings(chroma_server, tmp_path, corpus_dir):
    """Settings for the server, with a collection of its own per test (the server outlives tests)."""
    from assistant.config import Settings

    collection = f"aq_{tmp_path.name[-40:]}".replace("-", "_")
    return Settings(chroma_host="127.0.0.1", chroma_port=chroma_server, data_dir=tmp_path / "data",
                    corpus_dir=corpus_dir, collection=collection)


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert "Traceback" not in (result.stderr or "")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


# --- through the service functions -----------------------------------------------------------

def test_ingest_reingest_search_answer_against_server(server_settings, embeddings):
    from helpers import judge_framing

    from assistant.answering import AnsweringService
    from assistant.indexing import corpus_chunks, glossary_for, ingest_corpus, open_searcher
    from assistant.store import index_status

    chunks, _ = corpus_chunks(server_settings)
    report = ingest_corpus(server_settings, embeddings=embeddings)
    assert report.chunks == len(chunks) > 0
    assert report.added == report.chunks, report
    assert (report.updated, report.deleted) == (0, 0), report
    assert not server_settings.chroma_dir.exists(), "server mode must not create an embedded store"

    status = index_status(server_settings)
    assert status.ready and status.state == "complete" and status.count == len(chunks), status

    again = ingest_corpus(server_settings, embeddings=embeddings)
    assert (again.added, again.updated, again.deleted) == (0, 0, 0), again
    assert again.skipped == len(chunks)
    assert again.version == report.version

    searcher = open_searcher(server_settings, embeddings)
    hits = searcher.search(OFF_QUESTION)
    assert hits, "no hits from the server-backed index"
    assert any(h.section == OFF_SECTION or h.question.startswith("Why can sprinting suddenly feel") for h in hits[:2]), \
        [(h.section, h.question) for h in hits]
    assert any(h.section == OFF_SECTION for h in hits), [h.section for h in hits]

    service = AnsweringService(server_settings, searcher, glossary_for(server_settings))
    answer = service.answer(OFF_QUESTION.capitalize() + "?")
    assert answer.backend == "composer"
    assert answer.text.strip() and answer.scope == "in"
    assert answer.sources, "the answer has no sources"
    assert any(s.section == OFF_SECTION or "off" in s.question.lower() for s in answer.sources), \
        [(s.section, s.question) for s in answer.sources]
    assert judge_framing(answer.text).verdict == "pass"


def test_cli_against_server(server_settings, monkeypatch):
    monkeypatch.setenv("AQ_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("AQ_CHROMA_PORT", str(server_settings.chroma_port))
    monkeypatch.setenv("AQ_COLLECTION", server_settings.collection)
    monkeypatch.setenv("AQ_DATA_DIR", str(server_settings.data_dir))
    monkeypatch.setenv("AQ_CORPUS_DIR", str(server_settings.corpus_dir))
    runner = CliRunner()

    first = runner.invoke(app, ["ingest", "--json"])
    _no_traceback(first)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["added"] == report["chunks"] > 0

    second = runner.invoke(app, ["ingest", "--json"])
    _no_traceback(second)
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert (again["added"], again["updated"], again["deleted"]) == (0, 0, 0)

    status = runner.invoke(app, ["status", "--json"])
    _no_traceback(status)
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["ready"] and data["chunks"] == report["chunks"]
    assert data["store"] == f"127.0.0.1:{server_settings.chroma_port}"

    found = runner.invoke(app, ["search", OFF_QUESTION, "--json"])
    _no_traceback(found)
    assert found.exit_code == 0, found.output
    sections = [r["section"] for r in json.loads(found.stdout)["results"]]
    assert OFF_SECTION in sections, sections

    asked = runner.invoke(app, ["ask", "Why does sprinting feel off some days?", "--json"])
    _no_traceback(asked)
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert answer["answer"].strip() and answer["sources"]
    assert answer["backend"] == "composer"
    assert not server_settings.chroma_dir.exists(), "server mode must not create an embedded store"


# --- a server that is not there --------------------------------------------------------------

def test_wrong_port_is_a_clear_store_error(tmp_path, corpus_dir, embeddings):
    from assistant.config import Settings
    from assistant.indexing import ingest_corpus, open_searcher
    from assistant.store import StoreError, open_client

    port = _free_port()  # nothing listens here
    settings = Settings(chroma_host="127.0.0.1", chroma_port=port, data_dir=tmp_path / "data", corpus_dir=corpus_dir)
    for attempt in (lambda: open_client(settings),
                    lambda: ingest_corpus(settings, embeddings=embeddings),
                    lambda: open_searcher(settings, embeddings)):
        with pytest.raises(StoreError) as info:
            attempt()
        message = str(info.value)
        assert "cannot reach the Chroma server" in message
        assert f"127.0.0.1:{port}" in message
        assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("argv", [["ingest"], ["search", "feels off"], ["ask", "Why does sprinting feel off?"],
                                  ["status"], ["ingest", "--json"]])
def test_wrong_port_cli_says_so_in_one_line(argv, monkeypatch):
    port = _free_port()
    monkeypatch.setenv("AQ_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("AQ_CHROMA_PORT", str(port))
    result = CliRunner().invoke(app, argv)
    _no_traceback(result)
    assert result.exit_code == 1, result.output
    # `ingest` without --json may leave its (empty) progress bar line above the error.
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and not ln.startswith("embedding ")]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(lines) == 1 and len(errors) == 1, result.stderr
    assert "cannot reach the Chroma server" in errors[0] and f"127.0.0.1:{port}" in errors[0]
    if "--json" in argv:
        assert "cannot reach the Chroma server" in json.loads(result.stdout)["error"]
