"""History and feedback (assistant.conversations) on both databases: a SQLite file and a real PostgreSQL.

Every test taking `database_url` runs twice; the PostgreSQL one uses a throwaway cluster the test
session starts on loopback (tests/conftest.py).
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import create_engine, text

from assistant.answering import Source
from assistant.conversations import ConversationStore
from assistant.database import SCHEMA_VERSION, DatabaseError, open_database, upgrade


def test_history_is_per_session_and_ordered(database_url):
    store = ConversationStore(database_url)
    for n in range(3):
        for i in range(4):
            store.append_message(f"s{n}", "user" if i % 2 == 0 else "assistant", f"{n}-{i}")
    assert [m["content"] for m in store.history("s1")] == ["1-0", "1-1", "1-2", "1-3"]
    assert store.history("nobody") == []


def test_two_replicas_share_sessions_and_feedback(database_url):
    a, b = ConversationStore(database_url, served_by="replica-a"), ConversationStore(database_url, served_by="replica-b")
    a.append_message("s1", "user", "What is contributor timing?")
    a.append_message("s1", "assistant", "It is …", sources=[Source("c1", "T", "S", "e", 0.5)], backend="composer")
    b.append_message("s1", "user", "How do I improve it?")      # the next turn lands on the other replica
    answer_id = b.append_message("s1", "assistant", "Work on …")
    assert [m["content"] for m in a.history("s1")] == ["What is contributor timing?", "It is …",
                                                        "How do I improve it?", "Work on …"]
    assert a.messages("s1")[1]["sources"][0]["id"] == "c1"
    a.add_feedback("s1", "Q1", "A1", [], "composer", 1)
    b.add_feedback("s1", "Q2", "A2", [], "composer", -1, message_id=answer_id)
    assert [r["rating"] for r in a.export_feedback()] == [1, -1] == [r["rating"] for r in b.export_feedback()]
    engine = create_engine(database_url)
    with engine.connect() as conn:
        served = conn.execute(text("SELECT served_by FROM messages ORDER BY id")).scalars().all()
    engine.dispose()
    assert served == ["replica-a", "replica-a", "replica-b", "replica-b"]
    assert a.answered("s1", "no-such-turn") is None


def test_an_unanswered_question_asked_again_is_the_same_turn(database_url):
    store = ConversationStore(database_url)
    first = store.append_message("s1", "user", "Why do I feel heavy?")
    again = store.append_message("s1", "user", "Why do I feel heavy?")  # the answer failed, or its replica died
    assert again == first
    store.append_message("s1", "assistant", "AQ suggests …")
    assert store.append_message("s1", "user", "Why do I feel heavy?") != first  # asked again after an answer: a new turn
    assert [m["role"] for m in store.messages("s1")] == ["user", "assistant", "user"]


def test_a_turn_retried_with_its_id_is_stored_once(database_url):
    a, b = ConversationStore(database_url, served_by="a"), ConversationStore(database_url, served_by="b")
    q = a.append_message("s1", "user", "What is contributor timing?", turn_id="t1")
    ans = a.append_message("s1", "assistant", "It is …", sources=[Source("c1", "T", "S", "e", 0.5)], turn_id="t1")
    # replica a died before the client got the answer; the client retries the turn on b
    assert b.append_message("s1", "user", "What is contributor timing?", turn_id="t1") == q
    assert b.answered("s1", "t1")["content"] == "It is …" and b.answered("s1", "t1")["id"] == ans
    assert b.answered("s1", "t2") is None
    assert b.append_message("s1", "assistant", "It is …", turn_id="t1") == ans
    assert len(b.messages("s1")) == 2


def test_new_chat_closes_the_conversation_and_keeps_its_rows(database_url):
    store = ConversationStore(database_url)
    store.append_message("s1", "user", "old question")
    store.clear("s1")
    assert store.history("s1") == []
    store.append_message("s1", "user", "new question")
    convs = store.conversations("s1")
    assert [c["messages"] for c in convs] == [1, 1] and convs[0]["closed_at"] and not convs[1]["closed_at"]


def test_feedback_rating_again_updates_and_unrating_removes(database_url):
    store = ConversationStore(database_url)
    mid = store.append_message("s1", "assistant", "A.")
    up = store.add_feedback("s1", "Q?", "A.", [], "composer", 1, message_id=mid)
    assert store.add_feedback("s1", "Q?", "A.", [], "composer", -1, message_id=mid) == up
    assert store.ratings("s1") == {mid: -1}
    assert store.set_comment(up, "too vague", session_id="s1")
    assert not store.set_comment(up, "hijack", session_id="s2")
    assert store.export_feedback()[0]["comment"] == "too vague"
    assert store.remove_feedback("s1", mid) and store.ratings("s1") == {}
    with pytest.raises(ValueError):
        store.add_feedback("s1", "Q", "A", [], None, 0)


def test_sql_is_parameterised(database_url):
    store = ConversationStore(database_url)
    nasty = "x'); DROP TABLE messages; --"
    store.append_message(nasty, "user", nasty)
    store.add_feedback(nasty, nasty, nasty, [], nasty, 1, nasty)
    assert store.history(nasty) == [{"role": "user", "content": nasty}]
    assert store.export_feedback()[0]["comment"] == nasty


def test_concurrent_writers_lose_nothing(database_url):
    stores = [ConversationStore(database_url, served_by=f"r{n}") for n in range(2)]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                stores[n % 2].append_message(f"s{n}", "user", f"{n}-{i}")
                stores[(n + 1) % 2].append_message(f"s{n}", "assistant", f"a{n}-{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for n in range(6):
        assert len(stores[0].history(f"s{n}")) == 30


def test_one_app_secret_per_database(database_url):
    assert ConversationStore(database_url).app_secret() == ConversationStore(database_url).app_secret()


def test_a_fresh_database_gets_the_current_schema(database_url):
    engine = open_database(database_url)
    report = upgrade(engine)
    assert report.before == report.after == SCHEMA_VERSION and report.steps == []


# --- upgrading a history file written before the schema was versioned --------------------------

SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,
    created_at TEXT NOT NULL, closed_at TEXT);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    session_id TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), content TEXT NOT NULL,
    sources TEXT, backend TEXT, notices TEXT, created_at TEXT NOT NULL);
CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, session_id TEXT NOT NULL,
    conversation_id INTEGER, message_id INTEGER, rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    question TEXT NOT NULL, answer TEXT NOT NULL, sources TEXT NOT NULL, backend TEXT, comment TEXT);
INSERT INTO meta VALUES ('app_secret', 'old-secret');
INSERT INTO conversations VALUES (1, 's1', '2026-01-01T00:00:00+00:00', '2026-01-01T00:10:00+00:00');
INSERT INTO conversations VALUES (2, 's1', '2026-01-02T00:00:00+00:00', NULL);
INSERT INTO messages VALUES (1, 1, 's1', 'user', 'closed question', NULL, NULL, NULL, '2026-01-01T00:00:01+00:00');
INSERT INTO messages VALUES (2, 2, 's1', 'user', 'What is swing-side thrust?', NULL, NULL, NULL, '2026-01-02T00:00:01+00:00');
INSERT INTO messages VALUES (3, 2, 's1', 'assistant', 'In AQ''s terms …', '[{"chunk_id": "c9"}]', 'composer',
    '["a notice"]', '2026-01-02T00:00:02+00:00');
INSERT INTO feedback VALUES (1, '2026-01-02T00:00:03+00:00', 's1', 2, 3, 1, 'What is swing-side thrust?',
    'In AQ''s terms …', '[]', 'composer', 'helpful');
"""


def _old_history_file(path):
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA_1)
    return path


def _dump(path) -> dict:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("meta", "conversations", "messages", "feedback")}


def test_db_upgrade_keeps_every_row_of_an_old_history_file(tmp_path):
    from typer.testing import CliRunner

    from assistant.cli import app

    (tmp_path / "data").mkdir()
    path = _old_history_file(tmp_path / "data" / "aq_coach.sqlite")
    before = _dump(path)
    result = CliRunner().invoke(app, ["db", "upgrade", "--json"], env={"AQ_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.output
    assert '"before": 1' in result.output and f'"after": {SCHEMA_VERSION}' in result.output
    after = _dump(path)
    for table, rows in before.items():
        kept = [r[: len(rows[0])] if rows else r for r in after[table]]
        assert [r for r in kept if r in rows] == rows, table   # every old row, unchanged
    assert ("schema_version", str(SCHEMA_VERSION)) in after["meta"]
    store = ConversationStore(path)
    assert store.app_secret() == "old-secret"
    assert [m["content"] for m in store.messages("s1")] == ["What is swing-side thrust?", "In AQ's terms …"]
    assert store.messages("s1")[1]["notices"] == ["a notice"] and store.export_feedback()[0]["comment"] == "helpful"
    again = CliRunner().invoke(app, ["db", "upgrade", "--json"], env={"AQ_DATA_DIR": str(tmp_path / "data")})
    assert again.exit_code == 0 and '"steps": []' in again.output


def test_a_schema_newer_than_the_code_is_refused_clearly(tmp_path):
    path = tmp_path / "app.sqlite"
    ConversationStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(DatabaseError, match="newer than this aq-coach"):
        ConversationStore(path)


def test_an_unreachable_or_unknown_database_is_a_clear_error(tmp_path):
    with pytest.raises(DatabaseError, match="cannot open the database"):
        ConversationStore("postgresql+psycopg://aq:secret@127.0.0.1:1/aq")
    with pytest.raises(DatabaseError) as err:
        ConversationStore("nosuchdb://x/y")
    assert "secret" not in str(err.value)


# --- the SQLite file: WAL, comments, one rating per answer, the export CLI ---------------------------

def test_store_survives_reopening_and_uses_wal(tmp_path):
    path = tmp_path / "app.sqlite"
    ConversationStore(path).append_message("s1", "user", "kept")
    again = ConversationStore(path)
    assert again.history("s1") == [{"role": "user", "content": "kept"}]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    assert again.app_secret() == ConversationStore(path).app_secret()  # one secret per database


def test_store_feedback_roundtrip(tmp_path):
    store = ConversationStore(tmp_path / "app.sqlite")
    src = Source("c1", "Title", "Section", "excerpt", 0.5)
    up = store.add_feedback("s1", "Q?", "A.", [src], "composer", 1, "  ")
    down = store.add_feedback("s2", "Q2?", "A2.", [], "openai", -1, "too vague")
    assert store.set_comment(up, "great", session_id="s1")
    assert not store.set_comment(up, "hijack", session_id="s2")  # only the rating session may comment
    rows = store.export_feedback()
    assert [r["id"] for r in rows] == [up, down]
    first = rows[0]
    assert {"created_at", "rating", "question", "answer", "sources", "backend", "comment", "session_id"} <= set(first)
    assert first["rating"] == 1 and first["question"] == "Q?" and first["answer"] == "A." and first["comment"] == "great"
    assert first["sources"] == [{"id": "c1", "title": "Title", "section": "Section", "excerpt": "excerpt",
                                 "score": 0.5, "question": ""}]
    assert rows[1]["rating"] == -1 and rows[1]["comment"] == "too vague" and rows[1]["backend"] == "openai"
    with pytest.raises(ValueError):
        store.add_feedback("s1", "Q", "A", [], "composer", 0, None)


def test_store_one_rating_per_answer_and_retraction(tmp_path):
    store = ConversationStore(tmp_path / "app.sqlite")
    store.append_message("s1", "user", "Q?")
    answer_id = store.append_message("s1", "assistant", "A.", sources=[], backend="composer")
    first = store.add_feedback("s1", "Q?", "A.", [], "composer", 1, "nice", message_id=answer_id)
    again = store.add_feedback("s1", "Q?", "A.", [], "composer", -1, None, message_id=answer_id)  # changed their mind
    assert first == again
    rows = store.export_feedback()
    assert len(rows) == 1 and rows[0]["rating"] == -1 and rows[0]["comment"] == "nice"
    assert store.ratings("s1") == {answer_id: -1} and store.ratings("s2") == {}
    assert not store.remove_feedback("s2", answer_id)  # another session cannot take it back
    assert store.remove_feedback("s1", answer_id)
    assert store.export_feedback() == [] and store.ratings("s1") == {}


def test_feedback_export_cli_reads_the_store(settings, monkeypatch):
    """`aq-coach feedback export --json` prints what the UI stored."""
    import json

    from typer.testing import CliRunner

    from assistant.cli import app

    ConversationStore(settings.app_db).add_feedback("s1", "What is the swing side?", "It attacks forward.", [], "composer", 1,
                                                "clear")
    monkeypatch.setenv("AQ_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["feedback", "export", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["feedback"]
    assert rows[0]["question"] == "What is the swing side?" and rows[0]["comment"] == "clear"
