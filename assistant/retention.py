"""Athletes' right to forget: deleting one session's chats, purging old ones, and the retention purger.

`ConversationStore.forget(session_id)` and `ConversationStore.purge(older_than_days)` run the SQL
here, each in one transaction of the store (SQLite or PostgreSQL); `aq-coach db purge` and the
server's `RetentionPurger` (AQ_HISTORY_RETENTION_DAYS) call the store.

How old a conversation is: its last activity, the newest of the conversation's own `created_at`
and its messages' `created_at` (closing it with "New chat", or rating an answer, is not activity).
A conversation whose last activity is before the cutoff goes, with its messages and the feedback
on them; feedback older than the cutoff that belongs to no conversation left goes too.

Timestamps are ISO 8601 strings in UTC (`conversations._now`), so they compare as text.

A purge while replicas serve: only a session's open conversation is ever written to, and a writer
holds that conversation's row (PostgreSQL: `FOR KEY SHARE`; SQLite: the write lock, taken when its
transaction begins) from the moment it reads which conversation is open. The purge locks the stale
conversations' rows (`FOR UPDATE`, in id order) and then decides again which are stale: a message
written meanwhile keeps its conversation, and a writer that waited on the purge finds no open
conversation and starts a new one. On PostgreSQL an advisory lock lets one purge run at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.engine import Connection

from .database import conversations, feedback, lock_key, messages

log = logging.getLogger(__name__)

TABLES = ("conversations", "messages", "feedback")
PURGE_INTERVAL_S = 3600.0      # the server's purger runs at start, then hourly
_CHUNK = 500                   # ids per IN (...) list: far below SQLite's and psycopg's parameter limits


def cutoff_for(older_than_days: float, now: datetime | None = None) -> str:
    """The ISO timestamp `older_than_days` before now (UTC), as the history tables store it."""
    days = float(older_than_days)
    if not 0 <= days <= 100_000:   # also NaN and inf; a larger number overflows the date arithmetic
        raise ValueError(f"older_than_days must be a number of days, 0 to 100000, not {older_than_days!r}")
    now = now or datetime.now(UTC)
    return (now - timedelta(days=days)).isoformat(timespec="microseconds")


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


# --- forget: one session ---------------------------------------------------------------------------

def forget_rows(conn: Connection, session_id: str) -> dict[str, int]:
    """Delete every conversation, message and feedback row of one session; the counts per table.

    The caller holds the session's write lock (ConversationStore._write(session_id)). The session's
    conversation rows are locked first, in id order, as a purge locks them, so the two never deadlock."""
    owned = select(conversations.c.id).where(conversations.c.session_id == session_id)
    conn.execute(owned.order_by(conversations.c.id).with_for_update()).all()
    counts = {"feedback": conn.execute(feedback.delete().where(feedback.c.session_id == session_id)).rowcount}
    counts["messages"] = conn.execute(messages.delete().where(
        or_(messages.c.session_id == session_id, messages.c.conversation_id.in_(owned.scalar_subquery())))).rowcount
    counts["conversations"] = conn.execute(conversations.delete().where(conversations.c.session_id == session_id)).rowcount
    return {name: int(counts[name]) for name in TABLES}


# --- purge: old conversations ----------------------------------------------------------------------

def _stale(cutoff: str):
    """Conversations whose last activity is before cutoff (a select of their ids)."""
    recent = exists().where(messages.c.conversation_id == conversations.c.id, messages.c.created_at >= cutoff)
    return select(conversations.c.id).where(conversations.c.created_at < cutoff, ~recent).order_by(conversations.c.id)


def _orphan_feedback(cutoff: str):
    """Feedback older than cutoff whose conversation is gone (or that never had one)."""
    gone = ~exists().where(conversations.c.id == feedback.c.conversation_id)
    return and_(feedback.c.created_at < cutoff, or_(feedback.c.conversation_id.is_(None), gone))


def _feedback_of(ids: list[int]):
    """Feedback on these conversations or on their messages."""
    their_messages = select(messages.c.id).where(messages.c.conversation_id.in_(ids)).scalar_subquery()
    return or_(feedback.c.conversation_id.in_(ids), feedback.c.message_id.in_(their_messages))


def stale_ids(conn: Connection, cutoff: str, *, lock: bool = False) -> list[int]:
    """The ids of the conversations whose last activity is before cutoff.

    With lock, their rows are locked first (FOR UPDATE, in id order: a writer holding one finishes
    before the purge goes on), then staleness is decided again among them, so a conversation that
    got a message while the purge waited is kept."""
    ids = [int(i) for i in conn.execute(_stale(cutoff).with_for_update() if lock else _stale(cutoff)).scalars()]
    if not lock:
        return ids
    still: list[int] = []
    for chunk in _chunks(ids):
        still += [int(i) for i in conn.execute(_stale(cutoff).where(conversations.c.id.in_(chunk))).scalars()]
    return still


def purge_rows(conn: Connection, cutoff: str, *, dry_run: bool = False, postgres: bool = False) -> dict[str, int]:
    """Delete (or, dry_run, count) the conversations older than cutoff, their messages and feedback."""
    if postgres and not dry_run:  # one purge at a time across replicas; the next finds nothing left
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("aq-coach purge")})
    ids = stale_ids(conn, cutoff, lock=not dry_run)
    if dry_run:
        return _count(conn, cutoff, ids)
    counts = dict.fromkeys(TABLES, 0)
    for chunk in _chunks(ids):
        counts["feedback"] += conn.execute(feedback.delete().where(_feedback_of(chunk))).rowcount
        counts["messages"] += conn.execute(messages.delete().where(messages.c.conversation_id.in_(chunk))).rowcount
        counts["conversations"] += conn.execute(conversations.delete().where(conversations.c.id.in_(chunk))).rowcount
    counts["feedback"] += conn.execute(feedback.delete().where(_orphan_feedback(cutoff))).rowcount
    return {name: int(counts[name]) for name in TABLES}


def _count(conn: Connection, cutoff: str, ids: list[int]) -> dict[str, int]:
    """What purge_rows would delete for these stale conversations, deleting nothing."""
    rated: set[int] = set(conn.execute(select(feedback.c.id).where(_orphan_feedback(cutoff))).scalars())
    said = 0
    for chunk in _chunks(ids):
        rated.update(conn.execute(select(feedback.c.id).where(_feedback_of(chunk))).scalars())
        said += conn.execute(select(func.count()).select_from(messages).where(messages.c.conversation_id.in_(chunk))).scalar_one()
    return {"conversations": len(ids), "messages": int(said), "feedback": len(rated)}


# --- the server's purger -----------------------------------------------------------------------------

class RetentionPurger(threading.Thread):
    """A daemon thread that purges conversations older than `days` at once, then every interval_s.

    A failed purge (the database away for a moment) is logged and tried again at the next round;
    it never stops the server."""

    def __init__(self, store, days: float, interval_s: float = PURGE_INTERVAL_S) -> None:
        super().__init__(name="aq-coach retention purger", daemon=True)
        self.store, self.days, self.interval_s = store, float(days), float(interval_s)
        self.stopped = threading.Event()
        self.rounds = 0
        self.last: dict | None = None

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.last = self.store.purge(self.days)
                if any(self.last[name] for name in TABLES):
                    log.info("retention: purged %s (older than %s days)", self.last, self.days)
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("retention purge failed")
            self.rounds += 1
            self.stopped.wait(self.interval_s)

    def stop(self) -> None:
        self.stopped.set()


def start_retention(store, days: float | None, interval_s: float = PURGE_INTERVAL_S) -> RetentionPurger | None:
    """Start the purger when a retention is set (AQ_HISTORY_RETENTION_DAYS); None when it is off."""
    if not days:
        return None
    purger = RetentionPurger(store, days, interval_s)
    purger.start()
    return purger
