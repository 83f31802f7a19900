"""Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server) through langchain-openai."""

from __future__ import annotations

from ..config import Settings
from ..embeddings import BackendMissing
from . import LLMUnavailable
from .chatmodel import ChatModelAnswerer


class OpenAIBackend(ChatModelAnswerer):
    """A remote (or local) OpenAI-compatible server, with a bounded timeout and retry."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        try:
            from langchain_openai import ChatOpenAI
        except ImportError:
            raise BackendMissing("langchain-openai is not installed: pip install langchain-openai") from None
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not settings.openai_base_url and not key:
            raise BackendMissing("the openai backend needs OPENAI_API_KEY, or OPENAI_BASE_URL for a local server")
        self.chat_model = ChatOpenAI(
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            api_key=key or "not-needed",  # local OpenAI-compatible servers accept any key
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,  # bounded retry, then the composer takes over
            temperature=settings.temperature,
            **_token_limit(settings),
        )

    def _stream(self, chain, inputs: dict):
        try:
            yield from chain.stream(inputs)
        except Exception as exc:  # connection refused, timeout, 5xx, bad JSON …
            raise LLMUnavailable(f"the OpenAI-compatible endpoint failed: {type(exc).__name__}: {str(exc)[:200]}") from None

    def _invoke(self, chain, inputs: dict) -> str:
        try:
            return chain.invoke(inputs)
        except Exception as exc:  # connection refused, timeout, 5xx, bad JSON …
            raise LLMUnavailable(f"the OpenAI-compatible endpoint failed: {type(exc).__name__}: {str(exc)[:200]}") from None


def _token_limit(settings: Settings) -> dict:
    """The answer-length bound, in the field the endpoint reads. ChatOpenAI sends OpenAI's newer
    max_completion_tokens, which llama.cpp's server (and other OpenAI-compatible servers) ignore:
    they then generate to the end of their context, and a stream we stop keeps them busy."""
    if settings.openai_base_url:
        return {"extra_body": {"max_tokens": settings.max_tokens}}
    return {"max_tokens": settings.max_tokens}
