"""Chat history and athletes' feedback, in the app's database (assistant.database).

Every browser gets a random session id (kept in its localStorage by the web UI). A session owns
conversations; "New chat" closes the open conversation and the next message starts a new one,
deleting nothing. Rows are deleted only when an athlete forgets a session (`forget`) or a
conversation outlives the retention (`purge`); the SQL is in assistant.retention. Thumbs up/down
are stored with the question, the answer, its sources and the backend that produced it, so
`aq-coach feedback export` can show what athletes liked.

The database is SQLite in the data dir by default, or PostgreSQL shared by several replicas
(settings.database_url). A session may move between replicas from one turn to the next: its
history is rows, not process memory. Each write is one transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from .database import conversations, feedback, is_postgres, lock_key, messages, meta, open_database, pack_vector
from .retention import cutoff_for, forget_rows, purge_rows


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _plain(item: Any) -> Any:
    """A Source dataclass (or anything JSON can hold) as plain JSON data."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item


def _dump_sources(sources) -> str:
    return json.dumps([_plain(s) for s in (sources or [])], ensure_ascii=False, default=str)


def _dump_meta(data: dict | None) -> str | None:
    return None if data is None else json.dumps(data, ensure_ascii=False, default=str)


def _load_list(text_: str | None) -> list:
    if not text_:
        return []
    try:
        data = json.loads(text_)
    except ValueError:
        return []
    return data if isinstance(data, list) else []


class ConversationStore:
    """Conversations, messages and feedback for the web UI."""

    def __init__(self, target: str | Path, served_by: str | None = None) -> None:
        """`target`: a database URL, or the path of a SQLite file (created with its folder)."""
        url = str(target)
        if "://" not in url:
            url = f"sqlite:///{url}"
        if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)  # a fresh data dir
        self.url = url
        self.served_by = served_by
        self.engine = open_database(url)
        self._postgres = is_postgres(self.engine)
        self._lock = threading.Lock()   # SQLite has one writer: queue this process's writers instead of retrying

    # -- plumbing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self, session_id: str | None = None) -> Iterator[Connection]:
        """One transaction. On PostgreSQL, writes for one session are serialised across replicas; on
        SQLite the transaction takes the write lock before its first read, so what it reads (the open
        conversation) cannot be deleted under it by another process (a purge, assistant.retention)."""
        guard = contextlib.nullcontext() if self._postgres else self._lock
        with guard, self.engine.begin() as conn:
            if not self._postgres:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            if self._postgres and session_id is not None:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(f"session:{session_id}")})
            yield conn

    @staticmethod
    def _open_conversation(conn: Connection, session_id: str, lock: bool = False) -> int | None:
        """The session's open conversation; with lock (a writer), its row is held until the transaction
        ends (PostgreSQL FOR KEY SHARE), so a purge cannot delete it under the message being written."""
        query = (select(conversations.c.id)
                 .where(conversations.c.session_id == session_id, conversations.c.closed_at.is_(None))
                 .order_by(conversations.c.id.desc()).limit(1))
        row = conn.execute(query.with_for_update(read=True, key_share=True) if lock else query).first()
        return int(row[0]) if row else None

    # -- app secret -----------------------------------------------------------------------------
    def app_secret(self) -> str:
        """A random secret made once per database (the UI encrypts the browser's session id with it)."""
        with self._write("app_secret") as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == "app_secret")).first()
            if row is None:
                conn.execute(meta.insert().values(key="app_secret", value=secrets.token_urlsafe(32)))
                row = conn.execute(select(meta.c.value).where(meta.c.key == "app_secret")).first()
            return str(row[0])

    # -- history --------------------------------------------------------------------------------
    def append_message(self, session_id: str, role: str, content: str, sources=None, backend: str | None = None,
                       notices: list[str] | None = None, turn_id: str | None = None,
                       reply_to: int | None = None, vector=None, meta: dict | None = None) -> int | None:
        """Add a message to the session's open conversation (starting one if needed); returns its id.

        A retried turn is not a new one: with a `turn_id` (the client's id for the turn), a message
        of that role and turn already stored is returned instead; without one, a question that
        repeats the conversation's last, unanswered question is that question again. `notices` are
        the short lines shown with an answer (guard notice …), kept so a restored conversation
        looks the same. An answer with `reply_to` (its question's id) is stored only while that
        question is: if the athlete forgot the chat while it was being answered, nothing is stored
        and None is returned. An answer's `vector` (its question's) and `meta` (Answer.insight_meta())
        are what `aq-coach insights` reads.
        """
        if role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', not {role!r}")
        with self._write(session_id) as conn:
            if reply_to is not None and conn.execute(select(messages.c.id).where(
                    messages.c.id == int(reply_to), messages.c.session_id == session_id)).first() is None:
                return None
            if turn_id:
                done = self._turn_message(conn, session_id, turn_id, role)
                if done is not None:
                    return int(done.id)
            conversation = self._open_conversation(conn, session_id, lock=True)
            if conversation is None:
                conversation = conn.execute(conversations.insert().values(
                    session_id=session_id, created_at=_now())).inserted_primary_key[0]
            elif role == "user":
                last = conn.execute(select(messages.c.id, messages.c.role, messages.c.content)
                                    .where(messages.c.conversation_id == conversation)
                                    .order_by(messages.c.id.desc()).limit(1)).first()
                if last is not None and last.role == "user" and last.content == str(content):
                    return int(last.id)
            result = conn.execute(messages.insert().values(
                conversation_id=conversation, session_id=session_id, role=role, content=str(content),
                sources=_dump_sources(sources) if sources is not None else None, backend=backend,
                notices=json.dumps([str(n) for n in notices], ensure_ascii=False) if notices else None,
                created_at=_now(), served_by=self.served_by, turn_id=turn_id or None,
                question_vector=pack_vector(vector),
                # which question it answers: two turns of one session may overlap (two tabs, parallel API calls)
                answer_meta=_dump_meta({**meta, "reply_to": int(reply_to)} if meta and reply_to is not None else meta)))
            return int(result.inserted_primary_key[0])

    @staticmethod
    def _turn_message(conn: Connection, session_id: str, turn_id: str, role: str):
        return conn.execute(select(messages.c.id, messages.c.content, messages.c.sources, messages.c.notices)
                            .where(messages.c.session_id == session_id, messages.c.turn_id == turn_id,
                                   messages.c.role == role).limit(1)).first()

    def answered(self, session_id: str, turn_id: str) -> dict | None:
        """The stored answer of a turn (content, sources, notices), or None when it has none yet."""
        with self.engine.connect() as conn:
            row = self._turn_message(conn, session_id, turn_id, "assistant")
        if row is None:
            return None
        return {"id": row.id, "content": row.content, "sources": _load_list(row.sources),
                "notices": [str(n) for n in _load_list(row.notices)]}

    def messages(self, session_id: str) -> list[dict]:
        """The open conversation's messages with their ids, sources and backends (oldest first)."""
        with self.engine.connect() as conn:
            conversation = self._open_conversation(conn, session_id)
            if conversation is None:
                return []
            rows = conn.execute(select(messages.c.id, messages.c.role, messages.c.content, messages.c.sources,
                                       messages.c.backend, messages.c.notices, messages.c.created_at)
                                .where(messages.c.conversation_id == conversation).order_by(messages.c.id)).all()
        return [
            {"id": r.id, "role": r.role, "content": r.content, "sources": _load_list(r.sources),
             "backend": r.backend, "notices": [str(n) for n in _load_list(r.notices)], "created_at": r.created_at}
            for r in rows
        ]

    def history(self, session_id: str) -> list[dict]:
        """The open conversation as [{"role", "content"}], the shape AnsweringService takes."""
        return [{"role": m["role"], "content": m["content"]} for m in self.messages(session_id)]

    def clear(self, session_id: str) -> None:
        """Start a new chat: the open conversation is closed (kept in the database), not deleted."""
        with self._write(session_id) as conn:
            conn.execute(conversations.update()
                         .where(conversations.c.session_id == session_id, conversations.c.closed_at.is_(None))
                         .values(closed_at=_now()))

    def conversations(self, session_id: str) -> list[dict]:
        """Every conversation of a session, open or closed, with its message count (oldest first)."""
        c, m = conversations, messages
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.c.id, c.c.created_at, c.c.closed_at, func.count(m.c.id).label("messages"))
                                .select_from(c.outerjoin(m, m.c.conversation_id == c.c.id))
                                .where(c.c.session_id == session_id).group_by(c.c.id).order_by(c.c.id)).all()
        return [dict(r._mapping) for r in rows]

    # -- forgetting (assistant.retention) -------------------------------------------------------
    def forget(self, session_id: str) -> dict[str, int]:
        """Delete the session's conversations, messages and feedback, in one transaction; rows deleted
        per table ({"conversations": 0, "messages": 0, "feedback": 0} for a session never stored)."""
        with self._write(session_id) as conn:
            return forget_rows(conn, session_id)

    def purge(self, older_than_days: float, dry_run: bool = False) -> dict[str, int]:
        """Delete the conversations whose last activity is older than that (their newest message, or
        their creation when they have none), with their messages and feedback, in one transaction;
        rows per table. dry_run counts them and deletes nothing. See assistant.retention."""
        cutoff = cutoff_for(older_than_days)
        if dry_run:
            with self.engine.connect() as conn:
                return purge_rows(conn, cutoff, dry_run=True)
        with self._write() as conn:
            return purge_rows(conn, cutoff, postgres=self._postgres)

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
        f = feedback
        with self._write(session_id) as conn:
            if message_id is not None:
                row = conn.execute(select(f.c.id, f.c.comment)
                                   .where(f.c.session_id == session_id, f.c.message_id == int(message_id))).first()
                if row is not None:
                    conn.execute(f.update().where(f.c.id == row.id)
                                 .values(rating=rating, created_at=_now(), comment=comment or row.comment))
                    return int(row.id)
            result = conn.execute(f.insert().values(
                created_at=_now(), session_id=session_id, conversation_id=self._open_conversation(conn, session_id),
                message_id=message_id, rating=rating, question=str(question or ""), answer=str(answer or ""),
                sources=_dump_sources(sources), backend=backend, comment=comment))
            return int(result.inserted_primary_key[0])

    def remove_feedback(self, session_id: str, message_id: int) -> bool:
        """The athlete took a rating back (clicked the same thumb again): forget it."""
        with self._write(session_id) as conn:
            done = conn.execute(feedback.delete().where(feedback.c.session_id == session_id,
                                                        feedback.c.message_id == int(message_id)))
            return done.rowcount > 0

    def ratings(self, session_id: str) -> dict[int, int]:
        """{message_id: rating} for the session's rated answers."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(feedback.c.message_id, feedback.c.rating)
                                .where(feedback.c.session_id == session_id, feedback.c.message_id.is_not(None))).all()
        return {int(r.message_id): int(r.rating) for r in rows}

    def set_comment(self, feedback_id: int, comment: str | None, session_id: str | None = None) -> bool:
        """Attach (or replace) the comment of a feedback row; only the session that rated may do it."""
        comment = (comment or "").strip() or None
        where = [feedback.c.id == int(feedback_id)]
        if session_id is not None:
            where.append(feedback.c.session_id == session_id)
        with self._write(session_id) as conn:
            return conn.execute(feedback.update().where(*where).values(comment=comment)).rowcount == 1

    def export_feedback(self) -> list[dict]:
        """Every feedback row, oldest first, with sources decoded."""
        f = feedback
        with self.engine.connect() as conn:
            rows = conn.execute(select(f.c.id, f.c.created_at, f.c.rating, f.c.question, f.c.answer, f.c.sources,
                                       f.c.backend, f.c.comment, f.c.session_id, f.c.message_id).order_by(f.c.id)).all()
        out = []
        for r in rows:
            row = dict(r._mapping)
            row["sources"] = _load_list(row["sources"])
            out.append(row)
        return out

    def messages_before(self, message_id: int) -> list[dict]:
        """The messages of a stored message's conversation before it, as [{"role", "content"}] (oldest first):
        the turns a rated answer followed. [] when the message is not stored (any more)."""
        m = messages
        with self.engine.connect() as conn:
            conversation = conn.execute(select(m.c.conversation_id).where(m.c.id == int(message_id))).scalar()
            if conversation is None:
                return []
            rows = conn.execute(select(m.c.role, m.c.content)
                                .where(m.c.conversation_id == conversation, m.c.id < int(message_id)).order_by(m.c.id)).all()
        return [{"role": r.role, "content": r.content} for r in rows]
