"""The store: incremental ingest, crash safety, one ingest at a time, recovery from a corrupt store.

Real embedded Chroma, real MiniLM. The crash and concurrency tests run `python -m assistant`
as real subprocesses over a corpus of several article copies, so that an ingest is still running
when the test kills it or starts a second one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.config import get_settings
from assistant.indexing import corpus_chunks, ingest_corpus, open_searcher
from assistant.store import index_status, stored_chunks

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "what-exactly-is-coordination-in-running.md"
GLOSSARY = ROOT / "corpus" / "glossary.yaml"
SLOW_CORPUS_COPIES = 3  # ~130 chunks: long enough to be caught mid-way, short enough to finish quickly


# --- helpers -----------------------------------------------------------------------------------

def _assert_consistent(settings, expected_chunks=None) -> None:
    """count == chunk count == distinct metadata ids, and exactly the corpus's chunks are stored."""
    if expected_chunks is None:
        expected_chunks, _ = corpus_chunks(settings)
    status = index_status(settings)
    ids, texts, metas = stored_chunks(settings)
    meta_ids = [m["id"] for m in metas]
    assert status.state == "complete" and status.ready, status
    assert status.count == len(ids) == len(expected_chunks)
    assert len(set(meta_ids)) == len(meta_ids), "duplicate chunks in the store"
    assert set(meta_ids) == {c.id for c in expected_chunks}, "stored chunks differ from the corpus"
    by_id = {c.id: c.text for c in expected_chunks}
    assert all(by_id[m["id"]] == t for m, t in zip(metas, texts))


def _use_env(monkeypatch, settings) -> None:
    monkeypatch.setenv("AQ_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AQ_CORPUS_DIR", str(settings.corpus_dir))


def _one_error_line(result) -> str:
    assert "Traceback" not in result.output and "Traceback" not in (result.stderr or "")
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _write_slow_corpus(target: Path, copies: int = SLOW_CORPUS_COPIES) -> Path:
    """Several copies of the article, each with its own slug, title and a small text change."""
    target.mkdir(parents=True)
    source = ARTICLE.read_text(encoding="utf-8")
    for n in range(copies):
        text = source.replace("slug: what-exactly-is-coordination-in-running", f"slug: copy-{n:02d}")
        text = text.replace("title: What Exactly Is Coordination in Running?", f"title: Copy {n} of the coordination article")
        text = text.replace("Interesting.", f"Interesting (copy {n}).")
        (target / f"copy-{n:02d}.md").write_text(text, encoding="utf-8")
    shutil.copy(GLOSSARY, target / GLOSSARY.name)
    return target


def _env(data_dir: Path, corpus_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AQ_")}
    env.update(
        AQ_DATA_DIR=str(data_dir),
        AQ_CORPUS_DIR=str(corpus_dir),
        AQ_EMBEDDING_BATCH_SIZE="16",
        AQ_INDEX_BATCH_SIZE="16",  # small batches, so a kill lands between two of them
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def _start_ingest(tmp_path: Path, env: dict, name: str, *args: str) -> tuple[subprocess.Popen, Path, Path]:
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ingest", "--json", *args],
        cwd=tmp_path, env=env, stdout=out.open("w"), stderr=err.open("w"),
    )
    return proc, out, err


def _records(data_dir: Path) -> int:
    try:
        with sqlite3.connect(f"file:{data_dir / 'records.sqlite'}?mode=ro", uri=True, timeout=0.2) as db:
            return db.execute("SELECT count(*) FROM upsertion_record").fetchone()[0]
    except sqlite3.Error:
        return 0


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the ingest ended (rc {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _holds_lock(data_dir: Path, proc: subprocess.Popen):
    lock = data_dir / "ingest.lock"
    return lambda: lock.exists() and lock.read_text().strip() == str(proc.pid)


# --- incremental ingest ------------------------------------------------------------------------

def test_second_ingest_skips_everything(settings, embeddings):
    chunks, _ = corpus_chunks(settings)
    first = ingest_corpus(settings, embeddings=embeddings)
    assert (first.added, first.updated, first.skipped, first.deleted) == (len(chunks), 0, 0, 0)
    _assert_consistent(settings, chunks)

    second = ingest_corpus(settings, embeddings=embeddings)
    assert (second.added, second.updated, second.deleted) == (0, 0, 0)
    assert second.skipped == second.chunks == len(chunks)
    assert second.version == first.version
    _assert_consistent(settings, chunks)


def test_editing_a_paragraph_replaces_its_chunk(settings, embeddings):
    ingest_corpus(settings, embeddings=embeddings)
    before, _ = corpus_chunks(settings)
    article = settings.corpus_dir / ARTICLE.name
    old = "Because athletes often FEEL all of those changes happening simultaneously."
    new = "Because athletes often SENSE every one of those shifts landing at one moment."
    text = article.read_text(encoding="utf-8")
    assert text.count(old) == 1
    article.write_text(text.replace(old, new), encoding="utf-8")

    report = ingest_corpus(settings, embeddings=embeddings)
    after, _ = corpus_chunks(settings)
    assert report.updated >= 1 or (report.added >= 1 and report.deleted >= 1), report
    assert report.added + report.updated + report.skipped == report.chunks == len(after)
    assert len(after) == len(before) + report.added - report.deleted
    assert report.skipped >= len(before) - 6, "unchanged chunks were re-embedded"
    _assert_consistent(settings, after)

    _, texts, _ = stored_chunks(settings)
    assert not any(old in t for t in texts)
    assert sum(new in t for t in texts) == 1
    searcher = open_searcher(settings, embeddings)
    assert not any(old in h.text for h in searcher.search(old, k=10))
    assert any(new in h.text for h in searcher.search(new, k=3))


def test_deleting_a_section_deletes_its_chunks(settings, embeddings):
    ingest_corpus(settings, embeddings=embeddings)
    before, _ = corpus_chunks(settings)
    section = "Why “Coordination” Can Look Different Between Athletes"
    gone = [c for c in before if c.section == section]
    assert gone
    article = settings.corpus_dir / ARTICLE.name
    text = article.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.index("\n## ", start + 1) + 1
    article.write_text(text[:start] + text[end:], encoding="utf-8")

    report = ingest_corpus(settings, embeddings=embeddings)
    after, _ = corpus_chunks(settings)
    assert report.deleted >= len(gone) > 0
    assert report.chunks == len(after) == len(before) - len(gone)
    assert len(after) == len(before) + report.added - report.deleted
    _assert_consistent(settings, after)
    assert not any(m["section"] == section for m in stored_chunks(settings)[2])


def test_cli_ingest_json_and_rebuild(settings, embeddings, monkeypatch):
    ingest_corpus(settings, embeddings=embeddings)  # this process already holds the store open
    chunks, _ = corpus_chunks(settings)
    _use_env(monkeypatch, settings)
    runner = CliRunner()

    result = runner.invoke(app, ["ingest", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"added", "updated", "skipped", "deleted"} <= set(data)
    assert (data["added"], data["updated"], data["skipped"], data["deleted"]) == (0, 0, len(chunks), 0)

    result = runner.invoke(app, ["ingest", "--rebuild", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["added"], data["skipped"], data["chunks"]) == (len(chunks), 0, len(chunks))
    _assert_consistent(settings, chunks)

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0 and json.loads(status.stdout)["ready"] is True


def test_cli_ingest_missing_corpus_is_a_usage_error(settings, monkeypatch, tmp_path):
    _use_env(monkeypatch, settings)
    result = CliRunner().invoke(app, ["ingest", "--corpus", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in _one_error_line(result)


# --- crash safety and concurrency (real subprocesses) --------------------------------------------

@pytest.mark.slow
def test_killed_ingest_is_refused_then_repaired(tmp_path, embeddings, monkeypatch):
    # Polling the record manager catches the ingest after its first batch, so fewer copies will do.
    corpus = _write_slow_corpus(tmp_path / "big-corpus", copies=2)
    data = tmp_path / "big-data"
    settings = get_settings(data_dir=data, corpus_dir=corpus)
    chunks, _ = corpus_chunks(settings)

    proc, out, _ = _start_ingest(tmp_path, _env(data, corpus), "killed")
    try:
        _wait_for(lambda: _records(data) >= 16, proc, "the first batch was stored")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_text() == "", "the ingest finished before it was killed"
    committed = _records(data)
    assert 0 < committed < len(chunks)

    _use_env(monkeypatch, settings)
    runner = CliRunner()
    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 1
    info = json.loads(status.stdout)
    assert info["state"] == "ingesting" and info["ready"] is False
    assert "incomplete" in info["problem"] and "aq-coach ingest" in info["problem"]
    assert runner.invoke(app, ["status", "--quiet"]).exit_code == 1

    search = runner.invoke(app, ["search", "why does sprinting feel off"])
    assert search.exit_code == 1
    line = _one_error_line(search)
    assert "incomplete" in line and "aq-coach ingest" in line

    report = ingest_corpus(settings, embeddings=embeddings)
    assert report.skipped == committed, "chunks stored before the kill should not be embedded again"
    assert report.added + report.skipped == len(chunks)
    _assert_consistent(settings, chunks)
    assert runner.invoke(app, ["status", "--quiet"]).exit_code == 0


@pytest.mark.slow
def test_second_concurrent_ingest_is_refused(tmp_path):
    corpus = _write_slow_corpus(tmp_path / "big-corpus")
    data = tmp_path / "big-data"
    settings = get_settings(data_dir=data, corpus_dir=corpus)
    chunks, _ = corpus_chunks(settings)
    env = _env(data, corpus)

    first, first_out, first_err = _start_ingest(tmp_path, env, "first")
    waiter = None
    try:
        _wait_for(_holds_lock(data, first), first, "the first ingest took the lock")
        # One that is willing to wait gets its turn after the first, and finds nothing left to do.
        waiter, waiter_out, waiter_err = _start_ingest(tmp_path, env, "waiter", "--wait", "180")
        second = subprocess.run(
            [sys.executable, "-m", "assistant", "ingest", "--json", "--wait", "0"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert first.poll() is None, "the first ingest ended before the second one tried"
        assert second.returncode == 1, second.stdout + second.stderr
        assert "another ingest is running" in json.loads(second.stdout)["error"]
        err_lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
        assert len(err_lines) == 1 and err_lines[0].startswith("error: another ingest is running")
        assert "Traceback" not in second.stderr

        assert first.wait(timeout=180) == 0, first_err.read_text()
        assert waiter.wait(timeout=180) == 0, waiter_err.read_text()
    finally:
        for proc in (first, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    done = json.loads(first_out.read_text())
    assert (done["added"], done["chunks"]) == (len(chunks), len(chunks))
    waited = json.loads(waiter_out.read_text())
    assert (waited["added"], waited["updated"], waited["deleted"], waited["skipped"]) == (0, 0, 0, len(chunks))
    _assert_consistent(settings, chunks)


# --- a corrupt store ---------------------------------------------------------------------------

def test_corrupt_store_gives_a_clear_message_and_rebuild_recovers(indexed_settings, tmp_path, monkeypatch):
    data = tmp_path / "corrupt-data"
    shutil.copytree(indexed_settings.data_dir, data)
    settings = get_settings(data_dir=data, corpus_dir=indexed_settings.corpus_dir)
    files = [f for f in settings.chroma_dir.rglob("*") if f.is_file()]
    assert settings.chroma_dir / "chroma.sqlite3" in files
    for f in files:
        f.write_bytes(b"\xde\xad\xbe\xef garbage " * 512)
    _use_env(monkeypatch, settings)
    runner = CliRunner()

    for args in (["status"], ["search", "why does sprinting feel off"], ["ingest", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        line = _one_error_line(result)
        assert "cannot be opened" in line and "aq-coach ingest --rebuild" in line, line

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 1 and "cannot be opened" in json.loads(status.stdout)["error"]

    rebuilt = runner.invoke(app, ["ingest", "--rebuild", "--json"])
    assert rebuilt.exit_code == 0, rebuilt.output
    chunks, _ = corpus_chunks(settings)
    assert json.loads(rebuilt.stdout)["added"] == len(chunks)
    _assert_consistent(settings, chunks)

    search = runner.invoke(app, ["search", "why does sprinting feel off", "--json"])
    assert search.exit_code == 0, search.output
    assert json.loads(search.stdout)["results"]
