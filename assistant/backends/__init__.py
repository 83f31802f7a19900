"""Answerers behind one interface, and the small factories that pick them.

Every answerer takes an AnswerRequest (the question plan and the passages) and streams the answer's
text pieces. `composer` is offline and needs no model. `llamacpp` and `openai` are LangChain chat
models (backends.chatmodel owns their prompt and chain); their packages are imported lazily, and a
missing one gives a clear message instead of an ImportError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..config import Settings
from ..corpus import Glossary
from ..doctrine import Doctrine
from ..plan import QuestionPlan
from ..retrieval import SearchHit


@dataclass
class AnswerRequest:
    """What an answerer answers from."""

    plan: QuestionPlan
    passages: list[SearchHit]                     # the passages the answer may use (an LLM's numbered context)
    glossary: Glossary
    doctrine: Doctrine
    history: list[dict] = field(default_factory=list)         # earlier turns, {"role", "content"}
    more_passages: list[SearchHit] = field(default_factory=list)  # further candidates, for an answerer that ranks many cheaply
    query_vector: object = None                   # the standalone question's embedding, when the searcher has it
    rejected: list[str] = field(default_factory=list)  # why the previous attempt was not shown (a retry)


class Piece(str):
    """A piece of answer text; `chunk_id` names the chunk it was taken from, when the answerer knows."""

    chunk_id: str = ""

    def __new__(cls, text: str, chunk_id: str = "") -> Piece:
        piece = super().__new__(cls, text)
        piece.chunk_id = chunk_id
        return piece


class Answerer(Protocol):
    """What the answering service needs from every backend."""

    name: str
    faithful: bool   # writes only the passages' own sentences: no grounding check; a flagged sentence is left out, not retried
    streams: bool    # pieces come as they are written; False: the whole answer exists before the first piece

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        """The answer's text pieces (str or Piece); joined, they are the answer. Raise LLMUnavailable
        when the model cannot answer. Closing the iterator stops the generation."""

    def condense(self, history: list[dict], question: str) -> str | None:
        """The follow-up `question` rewritten as a standalone question, or None to let the plan do it."""


class LLMUnavailable(RuntimeError):
    """The model could not answer (down, timed out, missing); the service falls back to the composer."""


BACKENDS = ("composer", "llamacpp", "openai")


def make_llm(settings: Settings, name: str | None = None):
    """The LLM answerer named in settings, or None for the composer."""
    name = name or settings.backend
    if name == "composer":
        return None
    if name == "llamacpp":
        from .llamacpp import LlamaCppBackend

        return LlamaCppBackend(settings)
    if name == "openai":
        from .openai import OpenAIBackend

        return OpenAIBackend(settings)
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def make_answerer(settings: Settings, name: str, composer: Answerer) -> Answerer:
    """The answerer named `name`: `composer` itself, or the LLM backend of that name."""
    return make_llm(settings, name) or composer


def make_composer(glossary: Glossary, doctrine: Doctrine, framing, embeddings=None, settings: Settings | None = None, related=()):
    """The offline composer for the corpus's doctrine and framing judge; with `embeddings` it can rank units
    that came without a vector, and `related` lists the AQ articles it can point to when a topic is not covered."""
    from .composer import Composer, ComposerWeights

    return Composer(glossary, doctrine, framing, embeddings, ComposerWeights.from_settings(settings), related=related)
