"""The app's SQL database (SQLAlchemy): chat history and feedback, its schema and its upgrades.

One URL (`settings.database_url`) names it. Unset, it is a SQLite file in the data dir, which is
what one machine needs and what the offline default uses. For several UI replicas it is
PostgreSQL (`postgresql+psycopg://…`), so every replica sees every session.

The schema is versioned in the `meta` table (`schema_version`). Opening a database creates a
missing schema; an older one is upgraded in place by `upgrade()` (`aq-coach db upgrade`). Each
upgrade step only adds (a column, an index), so nothing already stored is changed or lost.

Schema 3 keeps, with each answer, what `aq-coach insights` reads: the vector of the question it answered
(`question_vector`, `pack_vector`: float16, base64) and the answer's metadata (`answer_meta`, JSON: an
honest gap or not, the guard's action, the retrieval support, the plan's scope, intent, terms and gaps).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table, Text, create_engine, event, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import NoSuchModuleError, OperationalError, SQLAlchemyError

SCHEMA_VERSION = 3

metadata = MetaData()
meta = Table("meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))
conversations = Table(
    "conversations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("closed_at", String(40)),
    Index("conversations_session", "session_id", "closed_at"),
)
messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Integer, ForeignKey("conversations.id"), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("sources", Text),
    Column("backend", String(32)),
    Column("notices", Text),
    Column("created_at", String(40), nullable=False),
    Column("served_by", String(200)),          # schema 2: the replica that wrote it
    Column("turn_id", String(64)),             # schema 2: the client's id for a turn, so a retry is not a new one
    Column("question_vector", Text),           # schema 3: an answer's question vector (pack_vector)
    Column("answer_meta", Text),               # schema 3: an answer's metadata for insights (JSON)
    Index("messages_conversation", "conversation_id", "id"),
    Index("messages_turn", "session_id", "turn_id", "role"),
)
feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(40), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("conversation_id", Integer),
    Column("message_id", Integer),
    Column("rating", Integer, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("sources", Text, nullable=False),
    Column("backend", String(32)),
    Column("comment", Text),
)


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


def redact(url: str) -> str:
    """The URL without its password, for messages and reports."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is reported as given, minus anything after '@'
        return url.split("@")[-1]


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> Engine:
    """One pooled engine per URL and process (replicas each have their own pool)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create(url)
        return engine


def _create(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except NoSuchModuleError as exc:
        raise DatabaseError(f"unsupported database URL {redact(url)}: {exc}") from None
    except ModuleNotFoundError as exc:
        raise DatabaseError(f"the driver for {redact(url)} is not installed ({exc.name}); "
                            "for PostgreSQL install it with: pip install 'aq-coach[postgres]'") from None
    except (ValueError, SQLAlchemyError) as exc:
        raise DatabaseError(f"bad database URL {redact(url)}: {exc}") from None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")   # readers never wait for the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


# --- schema --------------------------------------------------------------------------------------

@dataclass
class UpgradeReport:
    url: str
    before: int          # 0: no schema yet
    after: int
    steps: list[str]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def schema_version(conn: Connection) -> int:
    names = set(inspect(conn).get_table_names())
    if "messages" not in names:
        return 0
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first() if "meta" in names else None
    return int(row[0]) if row else 1   # schema 1 (before versioning) had no version row


def _to_2(conn: Connection) -> str:
    columns = {c["name"] for c in inspect(conn).get_columns("messages")}
    for name, kind in (("served_by", "VARCHAR(200)"), ("turn_id", "VARCHAR(64)")):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE messages ADD COLUMN {name} {kind}"))
    if "messages_turn" not in {i["name"] for i in inspect(conn).get_indexes("messages")}:
        conn.execute(text("CREATE INDEX messages_turn ON messages (session_id, turn_id, role)"))
    return "messages.served_by and messages.turn_id added (which replica wrote a message; a retried turn)"


def _to_3(conn: Connection) -> str:
    columns = {c["name"] for c in inspect(conn).get_columns("messages")}
    for name in ("question_vector", "answer_meta"):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE messages ADD COLUMN {name} TEXT"))
    return "messages.question_vector and messages.answer_meta added (what insights reads of each answer)"


# Each step takes the schema from version n to n + 1; a step only adds.
_STEPS: dict[int, Callable[[Connection], str]] = {1: _to_2, 2: _to_3}


def upgrade(engine: Engine) -> UpgradeReport:
    """Create the schema, or bring an older one up to SCHEMA_VERSION, in one transaction."""
    with engine.begin() as conn:
        if is_postgres(engine):  # two replicas starting at once: one upgrades, the other waits
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("aq-coach schema")})
        before = schema_version(conn)
        if before > SCHEMA_VERSION:
            raise DatabaseError(f"the database schema is version {before}, newer than this aq-coach "
                                f"understands ({SCHEMA_VERSION}); upgrade aq-coach")
        steps: list[str] = []
        if before == 0:
            metadata.create_all(conn)
            steps.append(f"schema {SCHEMA_VERSION} created")
        else:
            metadata.create_all(conn)   # tables a later version added (none are dropped)
            for version in range(before, SCHEMA_VERSION):
                steps.append(_STEPS[version](conn))
        if before != SCHEMA_VERSION:
            conn.execute(meta.delete().where(meta.c.key == "schema_version"))
            conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
    return UpgradeReport(engine.url.render_as_string(hide_password=True), before, SCHEMA_VERSION, steps)


def open_database(url: str) -> Engine:
    """The engine, with its schema created or upgraded; a clear DatabaseError when unreachable."""
    engine = engine_for(url)
    try:
        upgrade(engine)
    except OperationalError as exc:
        reason = " ".join(str(exc.orig).split())   # one line: the driver's message may run over several
        raise DatabaseError(f"cannot open the database {redact(url)}: {reason}") from None
    return engine


# --- stored vectors --------------------------------------------------------------------------------

def pack_vector(vector) -> str | None:
    """A vector as stored in a text column: float16, little-endian, base64 (a MiniLM vector: 1 KB of
    text, where JSON would take 8). None stays None."""
    if vector is None:
        return None
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def unpack_vector(stored: str | None):
    """pack_vector's text back as a float32 numpy vector; None for None or anything unreadable."""
    if not stored:
        return None
    import numpy as np

    try:
        data = base64.b64decode(stored, validate=True)
    except ValueError:
        return None
    if not data or len(data) % 2:
        return None
    return np.frombuffer(data, dtype="<f2").astype(np.float32)


# --- coordination ----------------------------------------------------------------------------------

@contextlib.contextmanager
def advisory_lock(engine: Engine, name: str, wait_s: float = 0.0, on_wait: Callable[[], None] | None = None,
                  busy_message: str = "the lock is held elsewhere") -> Iterator[None]:
    """A PostgreSQL session advisory lock held while the block runs: one holder across all machines.

    Waits up to wait_s (calling on_wait once), then raises DatabaseError(busy_message). The lock
    goes with its connection, so a holder that dies releases it.
    """
    key = lock_key(name)
    with engine.connect() as conn:
        deadline = time.monotonic() + wait_s
        told = False
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            conn.rollback()
            if time.monotonic() >= deadline:
                raise DatabaseError(busy_message)
            if on_wait and not told:
                on_wait()
                told = True
            time.sleep(0.2)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
