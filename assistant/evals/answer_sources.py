"""The passages an answer is judged against: every hit the service's searches returned while it
answered, answers-file sources tied to the corpus chunks they quote, and the glossary definitions of
the AQ terms an answer names."""

from __future__ import annotations

import re

from .datasets import Source
from .retrieval_judge import norm_section


class RecordingSearcher:
    """Wraps the service's searcher to keep every hit it returns while one answer is made.

    The service may search more than once per answer (the athlete's question, then the passages AQ
    wrote for doctrine or training questions); all of them, in order and without repeats, are what
    the answer was composed from.
    """

    def __init__(self, inner) -> None:
        self._inner = inner
        self.hits: list = []
        self.queries: list[str] = []

    @property
    def version(self):
        # No index version: the service then never answers a search from its own cache, so every
        # passage it retrieves passes through here and is counted.
        return None

    def reset(self) -> None:
        self.hits, self.queries = [], []

    def search(self, query, k=None):
        hits = self._inner.search(query, k)
        self.queries.append(query)
        seen = {h.id for h in self.hits}
        self.hits += [h for h in hits if h.id not in seen]
        return hits

    def __getattr__(self, name):
        return getattr(self._inner, name)


def hit_source(hit) -> Source:
    return Source(id=str(hit.id), section=str(hit.section), question=str(getattr(hit, "question", "") or ""),
                  excerpt=str(getattr(hit, "excerpt", "") or ""), text=str(getattr(hit, "text", "") or ""),
                  title=str(getattr(hit, "title", "") or ""), score=getattr(hit, "score", None))


def glossary_sources(glossary, text: str) -> list[Source]:
    """Glossary definitions of the AQ terms an answer names: part of the corpus every backend is given."""
    if glossary is None:
        return []
    out = []
    for term in glossary.terms_in(text):
        out.append(Source(id=f"glossary:{term.term}", section="Glossary", excerpt=term.definition[:240],
                          text=f"{term.term}: {term.definition}"))
    return out


def chunks_by_id(settings) -> dict:
    """The corpus chunks by id (full text for grounding); empty when the corpus cannot be read."""
    try:
        from ..indexing import corpus_chunks

        chunks, _ = corpus_chunks(settings)
        return {c.id: c for c in chunks}
    except Exception:
        return {}


def _norm_text(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").lower().replace("’", "'").replace("'", "")).strip()


def resolve_sources(sources: list[Source] | None, chunks) -> list[Source] | None:
    """Answers-file sources tied to the corpus chunk they quote, so grounding sees the whole chunk."""
    if not sources or not chunks:
        return sources
    by_id = {c.id: c for c in chunks}
    norm_chunks = [(c, _norm_text(c.text)) for c in chunks]
    out = []
    for s in sources:
        chunk = by_id.get(s.id)
        if chunk is None and (s.excerpt or s.text):
            needle = _norm_text((s.text or s.excerpt).rstrip("…").rstrip("."))
            if len(needle) >= 20:
                matches = [c for c, n in norm_chunks if needle in n]
                same = [c for c in matches if norm_section(c.section) == norm_section(s.section)
                        or (s.question and norm_section(c.question) == norm_section(s.question))]
                chunk = (same or matches or [None])[0]
        if chunk is None:
            out.append(s)
            continue
        out.append(Source(id=chunk.id, section=s.section or chunk.section, question=s.question or chunk.question,
                          excerpt=s.excerpt, text=chunk.text, title=s.title or chunk.title, score=s.score))
    return out
