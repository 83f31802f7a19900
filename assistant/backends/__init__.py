"""Answer backends behind one interface, and the one factory that picks them.

`composer` is offline and needs no model. `llamacpp` and `openai` are LLMs: their packages are
imported lazily, and a missing one gives a clear message instead of an ImportError.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..config import Settings
from ..corpus import Glossary


class LLMBackend(Protocol):
    """What the answering service needs from an LLM backend."""

    name: str
    chat_model: object  # a LangChain BaseChatModel

    def invoke(self, chain, inputs: dict) -> str:
        """Run a LangChain chain built on chat_model; raise LLMUnavailable when the model can't answer."""

    def stream(self, chain, inputs: dict) -> Iterator[str]:
        """The chain's text as the model writes it (LangChain .stream()); raise LLMUnavailable like invoke.

        A backend that cannot stream yields its whole answer once."""
        yield self.invoke(chain, inputs)


class LLMUnavailable(RuntimeError):
    """The model could not answer (down, timed out, missing); the service falls back to the composer."""


BACKENDS = ("composer", "llamacpp", "openai")


def make_llm(settings: Settings, name: str | None = None) -> LLMBackend | None:
    """The LLM backend named in settings, or None for the composer."""
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


def make_composer(glossary: Glossary, doctrine=None, embeddings=None, settings: Settings | None = None, related=()):
    """The offline composer; with `embeddings` it can rank units that came without a vector, and
    `related` lists the AQ articles it can point to when a topic is not covered."""
    from .composer import Composer, ComposerWeights

    return Composer(glossary, doctrine, embeddings, ComposerWeights.from_settings(settings), related=related)
