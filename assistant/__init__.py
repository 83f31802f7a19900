"""AQ Coach: a sprint-coaching assistant grounded in AQ's speed-training articles.

The public API, re-exported explicitly. Imports are lazy (PEP 562) so that `aq-coach --help`
does not pay for LangChain, Chroma or torch.
"""

from __future__ import annotations

import importlib

__all__ = [
    # settings
    "Settings",
    "get_settings",
    # corpus → chunks → store → retrieval
    "import_article",
    "repair_text",
    "load_corpus",
    "load_glossary",
    "Glossary",
    "Chunk",
    "chunk_corpus",
    "ingest_corpus",
    "open_searcher",
    "HybridSearcher",
    "SearchHit",
    "StoreError",
    # answering + guard
    "AnsweringService",
    "Answer",
    "AnswerDelta",
    "Source",
    "GuardReport",
    "EmptyQuestion",
    # answerers: what a new backend implements
    "Answerer",
    "AnswerRequest",
    "Piece",
    "LLMUnavailable",
    "FramingJudge",
    "FramingVerdict",
    "StreamGuard",
    # insights for maintainers: what athletes ask, grouped into topics
    "Insights",
    "Topic",
    "insights_from_rows",
]

_WHERE = {
    "Settings": "config",
    "get_settings": "config",
    "import_article": "importer",
    "repair_text": "importer",
    "load_corpus": "corpus",
    "load_glossary": "corpus",
    "Glossary": "corpus",
    "Chunk": "chunking",
    "chunk_corpus": "chunking",
    "ingest_corpus": "indexing",
    "open_searcher": "indexing",
    "HybridSearcher": "retrieval",
    "SearchHit": "retrieval",
    "StoreError": "store",
    "AnsweringService": "answering",
    "Answer": "answering",
    "AnswerDelta": "answering",
    "Source": "answering",
    "GuardReport": "answering",
    "EmptyQuestion": "answering",
    "Answerer": "backends",
    "AnswerRequest": "backends",
    "Piece": "backends",
    "LLMUnavailable": "backends",
    "FramingJudge": "guard",
    "FramingVerdict": "guard",
    "StreamGuard": "guard",
    "Insights": "insights",
    "Topic": "insights",
    "insights_from_rows": "insights",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
