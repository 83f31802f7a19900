"""Hybrid retrieval: BM25 (bm25s) ∪ vector search (Chroma), fused by weighted reciprocal rank.

Athletes say "arms", "rhythm" or "feels off"; the article says "swing side", "contributor timing"
and "sprint-system relationships". The glossary maps one to the other, so the BM25 query is
expanded with the AQ terms the athlete's everyday words point to.

The BM25 index is built once per index version (the version the last complete ingest wrote),
not per query; the version is re-read at most once a second.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from langchain_core.documents import Document

from .config import Settings
from .corpus import Glossary
from .store import StoreError, get_collection, index_status, open_client
from .text import stem_words
from .units import load_units

_TOKEN = re.compile(r"[a-z0-9]+")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_STOPWORDS: frozenset[str] | None = None


def _stopwords() -> frozenset[str]:
    global _STOPWORDS
    if _STOPWORDS is None:
        from bm25s.stopwords import STOPWORDS_EN_PLUS

        # The full English list: questions are full of "does", "should", "my", "what", "just",
        # which the 33-word Lucene list keeps and which then outweigh the words that matter.
        # It also holds contraction pieces ("s", "t", "m", "ll", "isn") left by splitting at
        # apostrophes. "not", "no" and "off" carry meaning here ("feels off", "not the cause").
        _STOPWORDS = frozenset(STOPWORDS_EN_PLUS) - {"not", "off", "no"}
    return _STOPWORDS


def tokenize(text: str) -> list[str]:
    """Lower-case, drop stop words, stem (Snowball via PyStemmer)."""
    return list(_tokens(text))


@lru_cache(maxsize=16384)
def _tokens(text: str) -> tuple[str, ...]:
    """tokenize(), remembered: every answer tokenizes the same corpus units and sentences again."""
    # The corpus writes ’ (athlete’s) and people type ' : normalise, keep "n't" as "not", then
    # split at apostrophes so "athlete’s" and "athlete's" both give "athlete".
    text = text.lower().translate(_APOSTROPHES).replace("n't", " not").replace("-", " ")
    return tuple(stem_words([w for w in _TOKEN.findall(text) if w not in _stopwords()]))


@dataclass
class SearchHit:
    id: str
    title: str
    section: str
    score: float
    excerpt: str
    text: str = field(repr=False)
    kind: str = "section"
    question: str = ""
    source: str = ""
    bm25_rank: int | None = None
    vector_rank: int | None = None
    units: tuple | None = field(default=None, repr=False, compare=False)   # its answer units; None: not stored

    @property
    def body(self) -> str:
        return self.text.split("\n", 1)[1] if "\n" in self.text else self.text

    def as_dict(self, full: bool = False) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "units"}
        if not full:
            data.pop("text")
        return data

    def to_document(self) -> Document:
        return Document(page_content=self.text, metadata={k: v for k, v in self.as_dict().items() if v is not None})


@lru_cache(maxsize=4096)  # pure; every search makes one per hit, of the same chunks
def excerpt(text: str, limit: int = 240) -> str:
    body = text.split("\n", 1)[1] if "\n" in text else text
    body = re.sub(r":\n- ", ": ", body).replace("\n- ", "; ")
    flat = re.sub(r"\s+", " ", body).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def expand_query(question: str, glossary: Glossary | None) -> str:
    """Add the AQ terms that the athlete's everyday words point to (for BM25)."""
    if not glossary:
        return question
    named = {t.term for t in glossary.terms_in(question)}
    extra = [t.term for t in glossary.expansions(question) if t.term not in named]
    return question if not extra else f"{question} {' '.join(extra)}"


class _BM25Index:
    def __init__(self, ids: list[str], texts: list[str], metadatas: list[dict]) -> None:
        import bm25s

        self.ids, self.texts, self.metadatas = ids, texts, metadatas
        self.model = bm25s.BM25()
        # An empty document would make bm25s fail; a placeholder token keeps positions aligned.
        self.model.index([tokenize(t) or ["∅"] for t in texts], show_progress=False)

    def search(self, query: str, k: int) -> list[int]:
        tokens = tokenize(query)
        if not tokens or not self.ids:
            return []
        known = [t for t in tokens if t in self.model.vocab_dict]
        if not known:
            return []
        import numpy as np

        # get_scores + argpartition: the same ranking as retrieve(), without its thread pool per query.
        scores = self.model.get_scores(known)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [int(d) for d in top if scores[d] > 0]


def _unit_rows(vectors):
    """Stored vectors as a float32 matrix with unit-length rows (None when there are none)."""
    import numpy as np

    if vectors is None or not len(vectors):
        return None
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class HybridSearcher:
    """Owns the Chroma collection, the embedder and the BM25 index for one index version."""

    def __init__(self, settings: Settings, embeddings, glossary: Glossary | None = None, client=None) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.glossary = glossary
        self.client = client or open_client(settings)
        self._lock = threading.Lock()
        self._bm25: _BM25Index | None = None
        self._version: str | None = None
        self._checked = 0.0
        self._collection = None
        self._matrix = None   # the chunks' vectors, one unit-length row per BM25 position
        self._units: list[tuple] = []
        self._vectors: dict[str, list[float]] = {}
        self._status: tuple | None = None  # (IndexStatus, when it was read)

    # -- index version ------------------------------------------------------------------------
    def status(self):
        return index_status(self.settings, self.client)

    def current_status(self, max_age_s: float = 1.0):
        """The index status, read at most once per max_age_s: every answer asks whether the index
        can answer, and reading it from Chroma costs about a millisecond each time."""
        now = time.monotonic()
        cached = self._status
        if cached is not None and now - cached[1] < max_age_s:
            return cached[0]
        status = self.status()
        self._status = (status, now)
        return status

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._bm25 is not None and now - self._checked < 1.0:
            return
        with self._lock:
            if self._bm25 is not None and now - self._checked < 1.0:
                return
            status = self.current_status()
            problem = status.problem()
            if problem:
                raise StoreError(problem)
            if self._bm25 is None or status.version != self._version:
                self._collection = get_collection(self.settings, self.client)
                data = self._collection.get(include=["documents", "metadatas", "embeddings"])
                metas = [m or {} for m in data["metadatas"]]
                self._bm25 = _BM25Index(data["ids"], data["documents"], metas)
                self._matrix = _unit_rows(data["embeddings"])
                self._units = [load_units(str(m["units"])) if "units" in m else None for m in metas]  # parsed once
                self._version = status.version
            self._checked = now

    @property
    def version(self) -> str | None:
        return self._version

    # -- search -------------------------------------------------------------------------------
    def query_vector(self, query: str) -> list[float]:
        """The query's embedding; recent ones are kept (the composer reuses retrieval's, and athletes repeat questions)."""
        with self._lock:
            if query in self._vectors:
                return self._vectors[query]
        vector = self.embeddings.embed_query(query)
        with self._lock:
            self._vectors[query] = vector
            while len(self._vectors) > 4096:  # 1.5 KB each: athletes ask the same questions
                self._vectors.pop(next(iter(self._vectors)))
        return vector

    def _vector_ranks(self, query: str, n: int) -> list[int]:
        """Positions of the n chunks nearest the query by cosine. Exact, over the vectors read with
        the texts at each index version: the searcher holds every chunk's text for BM25 already,
        and a dot product over them costs a small fraction of a Chroma query."""
        import numpy as np

        if self._matrix is None or not len(self._matrix):
            return []
        vector = np.asarray(self.query_vector(query), dtype=np.float32)
        scores = self._matrix @ (vector / (np.linalg.norm(vector) or 1.0))
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        return [int(p) for p in top[np.argsort(-scores[top], kind="stable")]]

    def search(self, query: str, k: int | None = None) -> list[SearchHit]:
        # Lone surrogates (an undecodable byte in a command-line argument arrives as one) make the
        # tokenizer raise TypeError: drop them.
        query = "".join(ch for ch in (query or "") if not "\ud800" <= ch <= "\udfff").strip()
        if not query:
            return []
        self._refresh()
        k = k or self.settings.k
        fetch = max(self.settings.fetch_k, k)
        bm25_ranks = self._bm25.search(expand_query(query, self.glossary), fetch)
        vector_ranks = self._vector_ranks(query, fetch)
        fused: dict[int, float] = {}
        c = self.settings.rrf_k
        for weight, ranks in ((self.settings.bm25_weight, bm25_ranks), (self.settings.vector_weight, vector_ranks)):
            for rank, pos in enumerate(ranks):
                fused[pos] = fused.get(pos, 0.0) + weight / (c + rank + 1)
        order = sorted(fused, key=lambda p: (-fused[p], p))[:k]
        hits = []
        for pos in order:
            meta = self._bm25.metadatas[pos]
            text = self._bm25.texts[pos]
            hits.append(
                SearchHit(
                    id=str(meta.get("id", self._bm25.ids[pos])),
                    title=str(meta.get("title", "")),
                    section=str(meta.get("section", "")),
                    score=round(fused[pos], 6),
                    excerpt=excerpt(text),
                    text=text,
                    kind=str(meta.get("kind", "section")),
                    question=str(meta.get("question", "")),
                    source=str(meta.get("source", "")),
                    bm25_rank=bm25_ranks.index(pos) + 1 if pos in bm25_ranks else None,
                    vector_rank=vector_ranks.index(pos) + 1 if pos in vector_ranks else None,
                    units=self._units[pos],
                )
            )
        return hits
