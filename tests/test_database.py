"""The database shared by replicas (assistant.database): ingest records and the ingest lock on a
real PostgreSQL (a throwaway cluster on loopback), and clear errors for bad URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from assistant.config import get_settings
from assistant.database import advisory_lock, engine_for, lock_key
from assistant.indexing import ingest_corpus

ROOT = Path(__file__).resolve().parent.parent


def test_ingest_records_live_in_postgres(tmp_path, postgres_db, embeddings):
    settings = get_settings(data_dir=tmp_path / "data", database_url=postgres_db)
    first = ingest_corpus(settings, embeddings=embeddings)
    again = ingest_corpus(settings, embeddings=embeddings)
    assert first.added == first.chunks > 0 and (again.added, again.updated, again.skipped) == (0, 0, first.chunks)
    with create_engine(postgres_db).connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM upsertion_record")).scalar()
    assert rows == first.chunks
    assert not (tmp_path / "data" / "records.sqlite").exists()  # nothing of the records stays on this machine


def test_advisory_lock_is_exclusive_and_released_with_its_holder(postgres_db):
    engine = engine_for(postgres_db)
    with advisory_lock(engine, "x"):
        with pytest.raises(Exception, match="held"):
            with advisory_lock(create_engine(postgres_db), "x", busy_message="held"):
                pass
    with advisory_lock(engine, "x"):  # released: free again
        pass
    # a holder whose connection dies (a killed replica) frees the lock
    other = create_engine(postgres_db)
    conn = other.connect()
    assert conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key("y")}).scalar()
    conn.invalidate()
    other.dispose()
    deadline = time.monotonic() + 10
    while True:
        try:
            with advisory_lock(engine, "y", busy_message="held"):
                break
        except Exception:
            assert time.monotonic() < deadline, "the dead holder's lock was never released"
            time.sleep(0.2)


def _ingest(tmp_path: Path, postgres_db: str, name: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "AQ_DATA_DIR": str(tmp_path / name), "AQ_DATABASE_URL": postgres_db,
           "AQ_CORPUS_DIR": str(ROOT / "corpus")}
    return subprocess.Popen([sys.executable, "-m", "assistant", "ingest", "--json", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_only_one_ingest_runs_across_machines(tmp_path, postgres_db):
    """Two machines (two data dirs) sharing one PostgreSQL: while one ingests, the other refuses or waits."""
    engine = engine_for(postgres_db)
    holder_ready, release = threading.Event(), threading.Event()

    def hold() -> None:   # machine A's ingest, holding the lock
        with advisory_lock(engine, "aq-coach ingest aq_coach"):
            holder_ready.set()
            release.wait(120)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holder_ready.wait(30)
        refused = _ingest(tmp_path, postgres_db, "b")
        out, err = refused.communicate(timeout=180)
        assert refused.returncode == 1, out + err
        assert "another ingest is running on this database" in json.loads(out)["error"]
        assert "Traceback" not in err
        waiter = _ingest(tmp_path, postgres_db, "c", "--wait", "120")
        time.sleep(3)
        assert waiter.poll() is None, "the waiting ingest did not wait"
    finally:
        release.set()
        holder.join()
    out, err = waiter.communicate(timeout=240)
    assert waiter.returncode == 0, err
    assert json.loads(out)["chunks"] > 0


def test_cli_reports_an_unreachable_database_in_one_line(tmp_path):
    env = {**os.environ, "AQ_DATA_DIR": str(tmp_path / "d"), "AQ_DATABASE_URL": "postgresql+psycopg://aq:pw@127.0.0.1:1/aq"}
    done = subprocess.run([sys.executable, "-m", "assistant", "db", "upgrade"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error: cannot open the database") and "pw" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# --- schema 3: each answer's question vector and metadata, for insights -----------------------------

def _schema_2_database(url: str) -> None:
    """A database as schema 2 left it (no question_vector, no answer_meta), with a conversation in it."""
    from assistant.database import metadata

    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for column in ("question_vector", "answer_meta"):
            conn.execute(text(f"ALTER TABLE messages DROP COLUMN {column}"))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '2'), ('app_secret', 'kept')"))
        # no ids given: a fresh database numbers them 1, 2 … (PostgreSQL's sequences too)
        conn.execute(text("INSERT INTO conversations (session_id, created_at) VALUES ('s1', '2026-01-01T00:00:00+00:00')"))
        conn.execute(text("INSERT INTO messages (conversation_id, session_id, role, content, created_at, served_by, turn_id) "
                          "VALUES (1, 's1', 'user', 'What is the swing side?', '2026-01-01T00:00:01+00:00', 'a', 't1'), "
                          "(1, 's1', 'assistant', 'In AQ''s terms …', '2026-01-01T00:00:02+00:00', 'a', 't1')"))
        conn.execute(text("INSERT INTO feedback (created_at, session_id, conversation_id, message_id, rating, question, "
                          "answer, sources, comment) VALUES ('2026-01-01T00:00:03+00:00', 's1', 1, 2, -1, "
                          "'What is the swing side?', 'In AQ''s terms …', '[]', 'too vague')"))
    engine.dispose()


def _rows(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
               for t in ("meta", "conversations", "messages", "feedback")}
    engine.dispose()
    return out


def test_a_schema_2_database_is_upgraded_in_place_and_keeps_every_row(database_url):
    from assistant.conversations import ConversationStore
    from assistant.database import SCHEMA_VERSION, unpack_vector, upgrade

    _schema_2_database(database_url)
    before = _rows(database_url)
    report = upgrade(engine_for(database_url))
    assert (report.before, report.after, SCHEMA_VERSION) == (2, 3, 3) and len(report.steps) == 1
    after = _rows(database_url)
    for table, rows in before.items():
        rows = [r for r in rows if r[0] != "schema_version"]   # the one row an upgrade changes
        kept = [r[: len(rows[0])] for r in after[table]] if rows else after[table]
        assert [r for r in kept if r in rows] == rows, table   # every old row, its old columns unchanged
    assert [r[-2:] for r in after["messages"]] == [(None, None), (None, None)]   # the new columns, empty for old rows
    assert ("schema_version", "3") in after["meta"] and upgrade(engine_for(database_url)).steps == []
    store = ConversationStore(database_url)
    assert store.app_secret() == "kept" and [m["content"] for m in store.messages("s1")][0] == "What is the swing side?"
    answer = store.append_message("s1", "assistant", "Stored with its vector.", vector=[0.5, -0.25], meta={"gap": True})
    with engine_for(database_url).connect() as conn:
        stored = conn.execute(text("SELECT question_vector, answer_meta FROM messages WHERE id = :i"), {"i": answer}).one()
    assert unpack_vector(stored[0]).tolist() == [0.5, -0.25] and json.loads(stored[1]) == {"gap": True}


def test_db_upgrade_backs_up_a_schema_2_file(tmp_path):
    from typer.testing import CliRunner

    from assistant.cli import app

    path = tmp_path / "data" / "aq_coach.sqlite"
    path.parent.mkdir()
    _schema_2_database(f"sqlite:///{path}")
    result = CliRunner().invoke(app, ["db", "upgrade", "--json"], env={"AQ_DATA_DIR": str(path.parent)})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["before"], data["after"]) == (2, 3) and data["backup"].endswith("aq_coach.sqlite.bak-v2")
    assert "question_vector" not in {c[1] for c in __import__("sqlite3").connect(data["backup"]).execute(
        "PRAGMA table_info(messages)")}
