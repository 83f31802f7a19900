"""History and feedback (assistant.conversations) on both databases: a SQLite file and a real PostgreSQL.

Every test taking `database_url` runs twice; the PostgreSQL one uses a throwaway cluster the test
session starts on loopback (tests/conftest.py).
"""

from __future__ import annotations

import sqlite3
import threading
import time

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


# --- forgetting a session and purging old conversations (assistant.retention), on both databases ------

ZERO = {"conversations": 0, "messages": 0, "feedback": 0}


def _rows(database_url: str) -> dict[str, list[tuple]]:
    """Every history row, straight from the database (not through the store)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = {"conversations": conn.execute(text("SELECT id, session_id FROM conversations ORDER BY id")).all(),
                "messages": conn.execute(text("SELECT conversation_id, session_id, content FROM messages ORDER BY id")).all(),
                "feedback": conn.execute(text("SELECT session_id, question FROM feedback ORDER BY id")).all()}
    engine.dispose()
    return {table: [tuple(r) for r in found] for table, found in rows.items()}


def _age(database_url: str, days: float, session_id: str | None = None, conversation_id: int | None = None) -> None:
    """Write created_at `days` in the past on a session's rows (or one conversation's), as if they were that old."""
    from datetime import UTC, datetime, timedelta

    when = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        for table, key in (("conversations", "id"), ("messages", "conversation_id"), ("feedback", "conversation_id")):
            column, value = ("session_id", session_id) if session_id is not None else (key, conversation_id)
            conn.execute(text(f"UPDATE {table} SET created_at = :w WHERE {column} = :v"), {"w": when, "v": value})
    engine.dispose()


def _two_sessions(store: ConversationStore) -> None:
    """s1: two conversations (New chat between them), three messages, two ratings; s2: one of each."""
    store.append_message("s1", "user", "What is the swing side?")
    answer = store.append_message("s1", "assistant", "In AQ's terms …")
    store.add_feedback("s1", "What is the swing side?", "In AQ's terms …", [], "composer", 1, "clear", message_id=answer)
    store.clear("s1")
    store.append_message("s1", "user", "And the pushing side?")
    store.add_feedback("s1", "Q", "A", [], "composer", -1)
    store.append_message("s2", "user", "What is contributor timing?")
    theirs = store.append_message("s2", "assistant", "It is …")
    store.add_feedback("s2", "What is contributor timing?", "It is …", [], "composer", 1, message_id=theirs)


def test_forget_deletes_every_row_of_the_session_and_nothing_else(database_url):
    store = ConversationStore(database_url)
    _two_sessions(store)
    before = _rows(database_url)
    theirs = {table: [r for r in rows if "s2" in r] for table, rows in before.items()}

    assert store.forget("s1") == {"conversations": 2, "messages": 3, "feedback": 2}
    after = _rows(database_url)
    assert after == theirs   # 0 rows of s1 left in any table; s2's rows exactly as they were
    assert store.history("s1") == [] and store.conversations("s1") == [] and store.ratings("s1") == {}
    assert [m["content"] for m in store.messages("s2")] == ["What is contributor timing?", "It is …"]
    assert store.forget("s1") == ZERO and store.forget("never-seen") == ZERO   # nothing to forget is no error
    store.append_message("s1", "user", "A fresh start")                      # the session id can start over
    assert [c["messages"] for c in store.conversations("s1")] == [1]


def test_a_forget_through_one_replica_is_seen_by_the_other(database_url):
    a, b = ConversationStore(database_url, served_by="a"), ConversationStore(database_url, served_by="b")
    _two_sessions(a)
    assert len(b.history("s1")) == 1 and b.conversations("s1") and b.ratings("s1")   # b reads what a wrote
    assert a.forget("s1")["messages"] == 3
    assert b.history("s1") == [] and b.messages("s1") == [] and b.conversations("s1") == [] and b.ratings("s1") == {}
    assert [r["session_id"] for r in b.export_feedback()] == ["s2"]


def test_an_answer_to_a_question_forgotten_meanwhile_is_not_stored(database_url):
    store = ConversationStore(database_url)
    asked = store.append_message("s1", "user", "What is the swing side?")
    store.forget("s1")   # the athlete forgot the chat while it was being answered
    assert store.append_message("s1", "assistant", "In AQ's terms …", reply_to=asked) is None
    assert _rows(database_url) == {"conversations": [], "messages": [], "feedback": []}
    asked = store.append_message("s1", "user", "What is the swing side?")
    assert store.append_message("s1", "assistant", "In AQ's terms …", reply_to=asked) is not None


def test_purge_counts_then_removes_exactly_the_old_conversations_and_then_nothing(database_url, monkeypatch):
    from assistant import retention

    monkeypatch.setattr(retention, "_CHUNK", 1)   # one id per statement: the chunked deletes are exercised
    store = ConversationStore(database_url)
    answer = (store.append_message("old", "user", "old q"), store.append_message("old", "assistant", "old a"))[1]
    store.add_feedback("old", "old q", "old a", [], "composer", 1, message_id=answer)
    _age(database_url, 40, session_id="old")                           # 1 conversation, 2 messages, 1 rating: go
    store.append_message("mixed", "user", "m1")
    store.append_message("mixed", "assistant", "m1a")
    closed = store.conversations("mixed")[0]["id"]
    store.clear("mixed")
    store.append_message("mixed", "user", "m2")
    _age(database_url, 40, conversation_id=closed)                     # its old, closed conversation goes (2 messages)
    store.append_message("revived", "user", "r1")
    _age(database_url, 40, session_id="revived")
    store.append_message("revived", "user", "r2")                      # created 40 days ago, last message now: kept
    store.append_message("recent", "user", "fresh")                    # kept
    store.add_feedback("lonely", "Q", "A", [], None, -1)               # a rating with no conversation, 40 days old: goes
    _age(database_url, 40, session_id="lonely")
    store.add_feedback("lonely2", "Q2", "A2", [], None, 1)             # … and one from today: kept
    before = _rows(database_url)

    expected = {"conversations": 2, "messages": 4, "feedback": 2}
    assert store.purge(50, dry_run=True) == ZERO                       # nothing is 50 days old
    assert store.purge(30, dry_run=True) == expected
    assert _rows(database_url) == before                               # a dry run deletes nothing
    assert store.purge(30) == expected
    after = _rows(database_url)
    assert sorted(s for _, s in after["conversations"]) == ["mixed", "recent", "revived"]
    assert [c for _, _, c in after["messages"]] == ["m2", "r1", "r2", "fresh"]
    assert after["feedback"] == [("lonely2", "Q2")]
    assert {t: len(before[t]) - len(after[t]) for t in before} == expected
    assert store.purge(30) == ZERO and store.purge(30, dry_run=True) == ZERO   # idempotent
    assert [m["content"] for m in store.messages("mixed")] == ["m2"] and store.history("old") == []


class SlowWriter(ConversationStore):
    """The real store, pausing once it has read which conversation is open: a writer caught mid-write."""

    def __init__(self, url: str, pause_s: float) -> None:
        super().__init__(url, served_by="slow")
        self.pause_s, self.reading = pause_s, threading.Event()

    def _open_conversation(self, conn, session_id, lock=False):
        found = ConversationStore._open_conversation(conn, session_id, lock)
        if lock:
            self.reading.set()
            time.sleep(self.pause_s)
        return found


def _in_thread(fn) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - asserted by the test
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_message_being_written_while_a_purge_runs_keeps_its_conversation(database_url):
    store = ConversationStore(database_url)
    store.append_message("s1", "user", "old q")
    store.append_message("s1", "assistant", "old a")
    _age(database_url, 40, session_id="s1")
    writer = SlowWriter(database_url, pause_s=1.0)   # another replica, answering the old conversation right now
    thread, result = _in_thread(lambda: writer.append_message("s1", "user", "new q"))
    assert writer.reading.wait(10)
    counts = store.purge(30)                          # waits for the writer, then sees its message
    thread.join(30)
    assert "error" not in result, result.get("error")
    assert counts == ZERO
    assert [m["content"] for m in store.messages("s1")] == ["old q", "old a", "new q"]


def test_a_message_written_while_a_purge_holds_its_conversation_starts_a_new_one(database_url, monkeypatch):
    from assistant import retention

    store = ConversationStore(database_url)
    store.append_message("s1", "user", "old q")
    _age(database_url, 40, session_id="s1")
    holding = threading.Event()
    real = retention.stale_ids

    def slow_stale_ids(conn, cutoff, *, lock=False):   # the purge, paused with its conversations locked
        ids = real(conn, cutoff, lock=lock)
        holding.set()
        time.sleep(1.0)
        return ids

    monkeypatch.setattr(retention, "stale_ids", slow_stale_ids)
    thread, result = _in_thread(lambda: store.purge(30))
    assert holding.wait(10)
    writer = ConversationStore(database_url, served_by="other replica")
    new = writer.append_message("s1", "user", "new q")   # waits for the purge, then finds no open conversation
    thread.join(30)
    assert result.get("value") == {"conversations": 1, "messages": 1, "feedback": 0}, result
    assert store.messages("s1") == [m for m in store.messages("s1") if m["id"] == new] and len(store.messages("s1")) == 1
    assert [c["messages"] for c in store.conversations("s1")] == [1]


# --- aq-coach db purge --------------------------------------------------------------------------

def _purge_cli(env: dict, *args: str):
    from typer.testing import CliRunner

    from assistant.cli import app

    return CliRunner().invoke(app, ["db", "purge", *args], env=env)


def test_db_purge_cli_dry_run_json_then_purge_then_nothing(database_url, tmp_path):
    import json

    store = ConversationStore(database_url)
    store.append_message("old", "user", "old q")
    store.append_message("old", "assistant", "old a")
    _age(database_url, 10, session_id="old")
    store.append_message("new", "user", "new q")
    env = {"AQ_DATABASE_URL": database_url, "AQ_DATA_DIR": str(tmp_path / "data")}

    dry = _purge_cli(env, "--older-than", "7", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert (data["dry_run"], data["older_than_days"], data["conversations"], data["messages"], data["feedback"]) == (True, 7.0, 1, 2, 0)
    assert len(_rows(database_url)["messages"]) == 3
    human = _purge_cli(env, "--older-than", "7")
    assert human.exit_code == 0, human.output
    assert "rows deleted" in human.stdout and "deleted 1 conversation(s)" in human.stdout
    assert [c for _, _, c in _rows(database_url)["messages"]] == ["new q"]
    again = _purge_cli(env, "--older-than", "7", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["conversations"] == 0


@pytest.mark.parametrize("args", [["--older-than", "-5"], ["--older-than", "abc"], ["--older-than", "nan"], []])
def test_db_purge_cli_bad_days_is_one_line(tmp_path, args):
    result = _purge_cli({"AQ_DATA_DIR": str(tmp_path / "data")}, *args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --older-than DAYS needs a number of days"), result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_db_purge_cli_unreachable_or_empty_database_is_one_line(tmp_path, postgres_db):
    cases = {"postgresql+psycopg://aq:secret@127.0.0.1:1/aq": "cannot open the database",
             postgres_db: "holds no chat history yet",                 # a database with no schema
             None: "there is no chat history at"}                      # no SQLite file in the data dir
    for url, message in cases.items():
        env = {"AQ_DATA_DIR": str(tmp_path / "data"), **({"AQ_DATABASE_URL": url} if url else {})}
        for args in (["--older-than", "30"], ["--older-than", "30", "--json"]):
            result = _purge_cli(env, *args)
            assert result.exit_code == 1, (url, result.output)
            lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
            assert len(lines) == 1 and message in lines[0] and "secret" not in result.stderr, (url, result.stderr)
            assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "data").exists()   # a purge never creates a database
    engine = create_engine(postgres_db)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")).scalar() == 0
    engine.dispose()
