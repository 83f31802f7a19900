"""The vector store: Chroma (embedded in data_dir, or a Chroma server), the record manager, and ingest.

Ingest goes through LangChain's `index()` with a SQL record manager, so unchanged chunks are
skipped and removed ones deleted. Crash safety: the collection's metadata carries an
`aq_state` that is "ingesting" while an ingest runs and "complete" (with a version) only after it
finished. Readers refuse an index that is not complete, and the next ingest repairs it: chunk ids
are content hashes, so re-adding is an upsert and never a duplicate, and Chroma entries that the
record manager does not know (written just before a kill) are reconciled away.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import Settings, apply_offline_hygiene

STATE_KEY = "aq_state"
VERSION_KEY = "aq_version"


class StoreError(RuntimeError):
    """The index cannot be used; the message says what to run."""


def open_client(settings: Settings):
    apply_offline_hygiene()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.uses_chroma_server:
        try:
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, ssl=settings.chroma_ssl, settings=chroma_settings
            )
            client.heartbeat()
        except Exception as exc:  # connection refused, DNS, TLS …
            raise StoreError(
                f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} ({type(exc).__name__}); "
                "start it with `chroma run --host 127.0.0.1 --port N` or unset AQ_CHROMA_HOST for the embedded store"
            ) from None
        return client
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)
    except Exception as exc:
        _release_embedded_client(settings)  # a failed open stays cached in Chroma and would mask the next try
        raise StoreError(
            f"the Chroma store in {settings.chroma_dir} cannot be opened ({type(exc).__name__}: {str(exc)[:200]}); "
            "rebuild it with `aq-coach ingest --rebuild`"
        ) from None


def get_collection(settings: Settings, client=None, create: bool = False):
    client = client or open_client(settings)
    try:
        if create:
            return client.get_or_create_collection(settings.collection, metadata={"hnsw:space": "cosine"})
        return client.get_collection(settings.collection)
    except StoreError:
        raise
    except Exception as exc:
        if not create and ("does not exist" in str(exc) or "NotFound" in type(exc).__name__):
            return None
        raise StoreError(
            f"the Chroma collection {settings.collection!r} cannot be read ({type(exc).__name__}: {str(exc)[:200]}); "
            "rebuild it with `aq-coach ingest --rebuild`"
        ) from None


def open_vectorstore(settings: Settings, embeddings, client=None):
    """A LangChain Chroma vector store over the configured collection."""
    from langchain_chroma import Chroma

    from .embeddings import as_langchain

    client = client or open_client(settings)
    return Chroma(
        client=client,
        collection_name=settings.collection,
        embedding_function=as_langchain(embeddings),
        collection_metadata={"hnsw:space": "cosine"},
    )


def open_record_manager(settings: Settings):
    from langchain_classic.indexes import SQLRecordManager

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    where = f"{settings.chroma_host}:{settings.chroma_port}" if settings.uses_chroma_server else "embedded"
    if settings.database_url and not settings.uses_chroma_server:
        where = f"embedded:{settings.chroma_dir.resolve()}"  # a shared database, but this machine's own Chroma
    # One record table per database: on PostgreSQL every replica sees what any of them ingested.
    manager = SQLRecordManager(f"chroma/{where}/{settings.collection}", db_url=settings.record_database_url)
    manager.create_schema()
    return manager


# --- index state -----------------------------------------------------------------------------

@dataclass
class IndexStatus:
    state: str        # "missing", "empty", "ingesting" (interrupted or running), "complete"
    version: str
    count: int

    @property
    def ready(self) -> bool:
        return self.state == "complete" and self.count > 0

    def problem(self) -> str | None:
        """A message for people when the index cannot answer, else None."""
        if self.state == "missing" or self.count == 0:
            return "The AQ index is empty. Build it with: aq-coach ingest"
        if self.state != "complete":
            return "The AQ index is incomplete (an ingest is running or was interrupted). Finish it with: aq-coach ingest"
        return None


def index_status(settings: Settings, client=None) -> IndexStatus:
    collection = get_collection(settings, client)
    if collection is None:
        return IndexStatus("missing", "", 0)
    meta = collection.metadata or {}
    count = collection.count()
    state = str(meta.get(STATE_KEY) or ("complete" if count else "empty"))
    return IndexStatus(state, str(meta.get(VERSION_KEY) or ""), count)


def _set_state(collection, state: str, version: str = "") -> None:
    # modify() replaces the metadata; the distance function lives in the configuration and stays.
    collection.modify(metadata={STATE_KEY: state, VERSION_KEY: version or "none"})


# --- ingest ----------------------------------------------------------------------------------

@dataclass
class IngestReport:
    added: int
    updated: int
    skipped: int
    deleted: int
    chunks: int
    seconds: float
    version: str
    warnings: list[str]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_BUSY = "another ingest is running on this {where}; wait for it to finish (or pass --wait SECONDS)"


@contextlib.contextmanager
def ingest_lock(settings: Settings, wait_s: float = 0.0, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """One ingest at a time: a second one waits up to wait_s, then refuses.

    With a PostgreSQL database the lock is a PostgreSQL advisory lock, so it holds across every
    machine sharing the database (and dies with its holder); otherwise a file lock in the data dir."""
    from .database import DatabaseError, engine_for, is_postgres

    if settings.database_url:
        engine = engine_for(settings.database_url)
        if is_postgres(engine):
            from .database import advisory_lock

            try:
                lock = advisory_lock(engine, f"aq-coach ingest {settings.collection}", wait_s, on_wait,
                                     busy_message=_BUSY.format(where="database"))
                with lock:
                    yield
            except DatabaseError as exc:
                raise StoreError(str(exc)) from None
            return
    with _file_lock(settings, wait_s, on_wait):
        yield


@contextlib.contextmanager
def _file_lock(settings: Settings, wait_s: float, on_wait: Callable[[], None] | None) -> Iterator[None]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "ingest.lock"
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(_BUSY.format(where="data dir")) from None
                if on_wait and not told:
                    on_wait()
                    told = True
                time.sleep(0.2)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _slot(meta: dict) -> tuple:
    """Where a chunk sits: a chunk in the same slot with new content counts as updated."""
    return (meta.get("source"), meta.get("section"), meta.get("kind"), meta.get("question"), meta.get("order"))


def _counted(items: Iterable, every: int, advance: Callable[[int], None] | None) -> Iterator:
    for item in items:
        yield item
        if advance:
            advance(1)


def _release_embedded_client(settings: Settings) -> None:
    """Forget this process's cached embedded Chroma for the folder (Chroma keeps one per path).

    Without this, a process that already opened the store (the UI, a test, a second CLI verb in
    one process) keeps writing through handles to the deleted files after a rebuild, and Chroma
    fails with "attempt to write a readonly database".
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient
    except ImportError:  # pragma: no cover - older/newer chromadb layout
        return
    key = str(settings.chroma_dir)
    system = SharedSystemClient._identifier_to_system.pop(key, None)
    SharedSystemClient._identifier_to_refcount.pop(key, None)
    if system is not None:
        with contextlib.suppress(Exception):
            system.stop()


def rebuild_store(settings: Settings) -> None:
    """Drop the collection and the records; for an embedded store also remove a corrupt folder."""
    if settings.record_db.exists():
        settings.record_db.unlink()
    if not settings.uses_chroma_server:
        _release_embedded_client(settings)
        shutil.rmtree(settings.chroma_dir, ignore_errors=True)
        return
    client = open_client(settings)
    with contextlib.suppress(Exception):
        client.delete_collection(settings.collection)


def ingest(
    settings: Settings,
    chunks: list,
    embeddings,
    *,
    rebuild: bool = False,
    warnings: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
    wait_s: float = 0.0,
    on_wait: Callable[[], None] | None = None,
    prepare: Callable[[list], list] | None = None,
) -> IngestReport:
    """Bring the store in line with `chunks` (a list of chunking.Chunk) and return the counts.

    `prepare` (adding the answer units' embeddings) runs once the ingest lock is held."""
    from langchain_core.indexing import index

    started = time.perf_counter()
    with ingest_lock(settings, wait_s, on_wait):
        if prepare is not None:
            chunks = prepare(chunks)
        if rebuild:
            rebuild_store(settings)
        client = open_client(settings)
        collection = get_collection(settings, client, create=True)
        before = collection.get(include=["metadatas"])
        old_slots = {_slot(m): i for i, m in zip(before["ids"], before["metadatas"]) if m}

        _set_state(collection, "ingesting")
        vectorstore = open_vectorstore(settings, embeddings, client)
        records = open_record_manager(settings)
        docs = [c.to_document() for c in chunks]
        result = index(
            _counted(docs, settings.embedding_batch_size, progress),
            records,
            vectorstore,
            cleanup="full",
            source_id_key="source",
            batch_size=settings.index_batch_size,
            key_encoder="sha256",
        )

        known = set(records.list_keys())
        orphans, replaced = _reconcile(collection, known, old_slots)
        version = hashlib.sha256("\n".join(sorted(known)).encode()).hexdigest()[:16]
        _set_state(collection, "complete", version)
    return IngestReport(
        added=max(result["num_added"] - replaced, 0),
        updated=replaced + result["num_updated"],
        skipped=result["num_skipped"],
        deleted=max(result["num_deleted"] + orphans - replaced, 0),
        chunks=len(chunks),
        seconds=round(time.perf_counter() - started, 3),
        version=version,
        warnings=warnings or [],
    )


def _reconcile(collection, known: set[str], old_slots: dict) -> tuple[int, int]:
    """Remove entries written just before a crash that no record knows; return how many were removed,
    and how many slots now hold new content in place of an entry that is gone (counted as updated)."""
    stored = collection.get(include=["metadatas"])
    orphans = [i for i in stored["ids"] if i not in known]
    if orphans:
        collection.delete(ids=orphans)
    new_slots = {_slot(m) for i, m in zip(stored["ids"], stored["metadatas"]) if m and i in known}
    return len(orphans), len([s for s in new_slots if s in old_slots and old_slots[s] not in known])


def stored_chunks(settings: Settings, client=None) -> tuple[list[str], list[str], list[dict]]:
    """Every stored chunk (ids, texts, metadatas), for building the BM25 index."""
    collection = get_collection(settings, client)
    if collection is None:
        return [], [], []
    data = collection.get(include=["documents", "metadatas"])
    return data["ids"], data["documents"], data["metadatas"]


def default_data_ready(settings: Settings) -> bool:
    """True when an index exists that can answer (used by `make run` to decide whether to ingest)."""
    try:
        return index_status(settings).ready
    except StoreError:
        return False


def chroma_dir_exists(settings: Settings) -> bool:
    return Path(settings.chroma_dir).exists()
