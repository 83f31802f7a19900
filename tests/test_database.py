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
