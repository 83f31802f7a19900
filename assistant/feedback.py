"""Chat history and athletes' feedback, in one SQLite file (settings.app_db).

Every browser gets a random session id (kept in its localStorage by the web UI). A session owns
conversations; "New chat" closes the open conversation and the next message starts a new one, so
nothing is ever deleted. Thumbs up/down are stored with the question, the answer, its sources and
the backend that produced it, so `aq-coach feedback export` can show what athletes liked.

Each call opens its own short-lived connection (WAL journal, busy timeout), so the store is safe
to share between Gradio's worker threads and between processes. SQL is parameterised throughout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    closed_at  TEXT
);
CREATE INDEX IF NOT EXISTS conversations_session ON conversations (session_id, closed_at);
CREATE TABLE IF NOT EXISTS messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    session_id      TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT NOT NULL,
    sources         TEXT,
    backend         TEXT,
    notices         TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, id);
CREATE TABLE IF NOT EXISTS feedback (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    conversation_id INTEGER,
    message_id      INTEGER,
    rating          INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    question        TEXT NOT NULL,
    answer          TEXT NOT NULL,
    sources         TEXT NOT NULL,
    backend         TEXT,
    comment         TEXT
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _plain(item: Any) -> Any:
    """A Source dataclass (or anything JSON can hold) as plain JSON data."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item


def _dump_sources(sources) -> str:
    return json.dumps([_plain(s) for s in (sources or [])], ensure_ascii=False, default=str)


def _load_list(text: str | None) -> list:
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    return data if isinstance(data, list) else []


class FeedbackStore:
    """Conversations, messages and feedback for the web UI."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()   # serialises writers inside this process; SQLite handles the rest
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    # -- plumbing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._connect() as conn:
            with conn:  # one transaction: commit, or roll back on error
                yield conn

    @staticmethod
    def _open_conversation(conn: sqlite3.Connection, session_id: str) -> int | None:
        row = conn.execute(
            "SELECT id FROM conversations WHERE session_id = ? AND closed_at IS NULL ORDER BY id DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        return int(row["id"]) if row else None

    # -- app secret -----------------------------------------------------------------------------
    def app_secret(self) -> str:
        """A random secret made once per database (the UI encrypts the browser's session id with it)."""
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('app_secret', ?)", (secrets.token_urlsafe(32),))
            return str(conn.execute("SELECT value FROM meta WHERE key = 'app_secret'").fetchone()["value"])

    # -- history --------------------------------------------------------------------------------
    def append_message(self, session_id: str, role: str, content: str, sources=None, backend: str | None = None,
                       notices: list[str] | None = None) -> int:
        """Add a message to the session's open conversation (starting one if needed); returns its id.

        `notices` are the short lines shown with an answer (guard notice …), kept so a restored
        conversation looks the same.
        """
        if role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', not {role!r}")
        with self._write() as conn:
            conversation = self._open_conversation(conn, session_id)
            if conversation is None:
                conversation = conn.execute(
                    "INSERT INTO conversations (session_id, created_at) VALUES (?, ?)", (session_id, _now())
                ).lastrowid
            cur = conn.execute(
                "INSERT INTO messages (conversation_id, session_id, role, content, sources, backend, notices, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation, session_id, role, str(content),
                 _dump_sources(sources) if sources is not None else None, backend,
                 json.dumps([str(n) for n in notices], ensure_ascii=False) if notices else None, _now()),
            )
            return int(cur.lastrowid)

    def messages(self, session_id: str) -> list[dict]:
        """The open conversation's messages with their ids, sources and backends (oldest first)."""
        with self._connect() as conn:
            conversation = self._open_conversation(conn, session_id)
            if conversation is None:
                return []
            rows = conn.execute(
                "SELECT id, role, content, sources, backend, notices, created_at FROM messages "
                "WHERE conversation_id = ? ORDER BY id",
                (conversation,),
            ).fetchall()
        return [
            {"id": r["id"], "role": r["role"], "content": r["content"], "sources": _load_list(r["sources"]),
             "backend": r["backend"], "notices": [str(n) for n in _load_list(r["notices"])],
             "created_at": r["created_at"]}
            for r in rows
        ]

    def history(self, session_id: str) -> list[dict]:
        """The open conversation as [{"role", "content"}], the shape AnsweringService takes."""
        return [{"role": m["role"], "content": m["content"]} for m in self.messages(session_id)]

    def clear(self, session_id: str) -> None:
        """Start a new chat: the open conversation is closed (kept in the database), not deleted."""
        with self._write() as conn:
            conn.execute(
                "UPDATE conversations SET closed_at = ? WHERE session_id = ? AND closed_at IS NULL", (_now(), session_id)
            )

    def conversations(self, session_id: str) -> list[dict]:
        """Every conversation of a session, open or closed, with its message count (oldest first)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT c.id, c.created_at, c.closed_at, COUNT(m.id) AS messages FROM conversations c "
                "LEFT JOIN messages m ON m.conversation_id = c.id WHERE c.session_id = ? GROUP BY c.id ORDER BY c.id",
                (session_id,),
            ).fetchall()
        return [dict(r) for r in rows]

    # -- feedback -------------------------------------------------------------------------------
    def add_feedback(self, session_id: str, question: str, answer: str, sources, backend: str | None,
                     rating: int, comment: str | None = None, message_id: int | None = None) -> int:
        """Store a thumbs up (+1) or down (-1) with what was rated; returns the feedback id.

        With a message_id, one rating per answer and session: rating the same answer again
        (👍 then 👎) updates that row instead of adding a contradicting one.
        """
        rating = int(rating)
        if rating not in (-1, 1):
            raise ValueError("rating must be +1 (thumbs up) or -1 (thumbs down)")
        comment = (comment or "").strip() or None
        with self._write() as conn:
            if message_id is not None:
                row = conn.execute("SELECT id, comment FROM feedback WHERE session_id = ? AND message_id = ?",
                                   (session_id, int(message_id))).fetchone()
                if row is not None:
                    conn.execute("UPDATE feedback SET rating = ?, created_at = ?, comment = ? WHERE id = ?",
                                 (rating, _now(), comment or row["comment"], row["id"]))
                    return int(row["id"])
            conversation = self._open_conversation(conn, session_id)
            cur = conn.execute(
                "INSERT INTO feedback (created_at, session_id, conversation_id, message_id, rating, question, answer, "
                "sources, backend, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), session_id, conversation, message_id, rating, str(question or ""), str(answer or ""),
                 _dump_sources(sources), backend, comment),
            )
            return int(cur.lastrowid)

    def remove_feedback(self, session_id: str, message_id: int) -> bool:
        """The athlete took a rating back (clicked the same thumb again): forget it."""
        with self._write() as conn:
            cur = conn.execute("DELETE FROM feedback WHERE session_id = ? AND message_id = ?", (session_id, int(message_id)))
            return cur.rowcount > 0

    def ratings(self, session_id: str) -> dict[int, int]:
        """{message_id: rating} for the session's rated answers."""
        with self._connect() as conn:
            rows = conn.execute("SELECT message_id, rating FROM feedback WHERE session_id = ? AND message_id IS NOT NULL",
                                (session_id,)).fetchall()
        return {int(r["message_id"]): int(r["rating"]) for r in rows}

    def set_comment(self, feedback_id: int, comment: str | None, session_id: str | None = None) -> bool:
        """Attach (or replace) the comment of a feedback row; only the session that rated may do it."""
        comment = (comment or "").strip() or None
        with self._write() as conn:
            if session_id is None:
                cur = conn.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment, int(feedback_id)))
            else:
                cur = conn.execute("UPDATE feedback SET comment = ? WHERE id = ? AND session_id = ?",
                                   (comment, int(feedback_id), session_id))
            return cur.rowcount == 1

    def export_feedback(self) -> list[dict]:
        """Every feedback row, oldest first, with sources decoded."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, created_at, rating, question, answer, sources, backend, comment, session_id, message_id "
                "FROM feedback ORDER BY id"
            ).fetchall()
        out = []
        for r in rows:
            row = dict(r)
            row["sources"] = _load_list(row["sources"])
            out.append(row)
        return out
