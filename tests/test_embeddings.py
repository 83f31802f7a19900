"""The offline MiniLM without torch: an ONNX graph built from the packaged safetensors, run by ONNX
Runtime for questions and chunks alike, checked against vectors saved once from the torch model
(tests/fixtures/minilm_reference.npz, written by tests/fixtures/make_minilm_reference.py), and the
graph's own safety (built once, built again when damaged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import BackendMissing, MiniLMEmbeddings, graph_path, onnx_encoder

REFERENCE = Path(__file__).parent / "fixtures" / "minilm_reference.npz"
LEAST_COSINE = 0.9999
QUESTIONS = [
    "What is contributor timing?",
    "Why does my sprint feel heavy and rushed some days but smooth on others?",
    "speed",
    "How do I keep sprint-system continuity " * 60,  # past the model's 256 tokens: truncated alike
]


@pytest.fixture(scope="module")
def reference():
    data = np.load(REFERENCE, allow_pickle=False)
    return [str(t) for t in data["texts"]], data["vectors"], data["tokens"]


def test_the_reference_covers_questions_chunks_and_long_texts(reference):
    texts, vectors, tokens = reference
    assert len(texts) >= 150 and vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
    assert (tokens > 256).sum() >= 5, "texts past the model's window"
    assert ((tokens > 128) & (tokens <= 256)).sum() >= 10, "texts the shipped tokenizer.json (128) would cut short"


def test_chunks_through_onnx_match_the_torch_reference(embeddings, reference):
    texts, vectors, _ = reference
    mine = np.array(embeddings.embed_documents(texts))
    cosines = np.sum(mine * vectors, axis=1)
    assert cosines.min() >= LEAST_COSINE, [(texts[i][:60], cosines[i]) for i in np.argsort(cosines)[:3]]


def test_questions_through_onnx_match_the_torch_reference(embeddings, reference):
    texts, vectors, _ = reference
    picked = range(0, len(texts), 3)
    mine = np.array([embeddings.embed_query(texts[i]) for i in picked])
    cosines = np.sum(mine * vectors[list(picked)], axis=1)
    assert cosines.min() >= LEAST_COSINE, cosines.min()


def test_the_window_is_the_models_256_tokens_not_the_shipped_tokenizers_128(embeddings):
    encoder = embeddings.encoder()
    assert encoder.window == 256
    long = "How do I keep sprint-system continuity when I attack the ground harder? " * 30
    assert len(encoder.token_ids([long])[0]) == 256


def test_a_questions_vector_does_not_depend_on_the_batch_it_is_padded_into(embeddings):
    """Concurrent questions are encoded in one padded batch (MiniLMEmbeddings.embed_query)."""
    encoder = embeddings.encoder()
    alone = encoder.encode([QUESTIONS[0]])[0]
    padded = encoder.encode([QUESTIONS[0], QUESTIONS[1], QUESTIONS[3]], batch_size=3)[0]
    assert np.abs(alone - padded).max() < 1e-5


def test_thread_counts_do_not_change_a_vector(embeddings, reference):
    texts = reference[0][:64]
    one = embeddings.encoder(1).encode(texts)
    many = embeddings.encoder(0).encode(texts)
    assert np.abs(one - many).max() < 1e-6


def test_the_graph_is_built_once_and_then_reused(tmp_path, embeddings):
    first = MiniLMEmbeddings(cache_dir=tmp_path)
    vector = first.embed_query("What is swing-side thrust?")
    [graph] = tmp_path.glob("*.onnx")
    assert graph == graph_path(Path(first.model_path), tmp_path)
    made = graph.stat().st_mtime_ns
    onnx_encoder.cache_clear()  # as a new process would
    second = MiniLMEmbeddings(cache_dir=tmp_path)
    assert np.allclose(second.embed_query("What is swing-side thrust?"), vector, atol=1e-6)
    assert graph.stat().st_mtime_ns == made
    assert not list(tmp_path.glob("*.partial"))
    onnx_encoder.cache_clear()


@pytest.mark.slow
def test_a_damaged_graph_is_built_again(tmp_path, embeddings):
    """The graph (a few KiB) and its weights (the .data file beside it, mapped by ONNX Runtime):
    either one damaged or cut short, the next process builds both again."""
    MiniLMEmbeddings(cache_dir=tmp_path).embed_query("warm up")
    [graph] = tmp_path.glob("*.onnx")
    weights = graph.with_name(graph.name + ".data")
    assert weights.stat().st_size > 80_000_000
    expected = np.array(embeddings.embed_query(QUESTIONS[1]))
    for path, damage in ((graph, b"not an onnx graph"), (graph, graph.read_bytes()[:1000]),
                         (weights, weights.read_bytes()[: weights.stat().st_size // 2]),
                         (weights, bytes(weights.stat().st_size))):
        path.write_bytes(damage)
        onnx_encoder.cache_clear()
        v = np.array(MiniLMEmbeddings(cache_dir=tmp_path).embed_query(QUESTIONS[1]))
        assert float(v @ expected) >= 0.99999, path.name
        assert weights.stat().st_size > 80_000_000 and not list(tmp_path.glob("*.partial"))
    onnx_encoder.cache_clear()


def test_a_folder_that_is_not_a_bert_model_says_so(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "t5", "hidden_act": "relu"}')
    with pytest.raises(BackendMissing, match="not a BERT model"):
        MiniLMEmbeddings(model_path=tmp_path, cache_dir=tmp_path / "cache").embed_query("speed")
    with pytest.raises(BackendMissing, match="does not exist"):
        MiniLMEmbeddings(model_path=tmp_path / "nowhere", cache_dir=tmp_path / "cache").embed_query("speed")
    onnx_encoder.cache_clear()


@pytest.mark.slow
def test_the_default_path_never_imports_torch(tmp_path):
    """Questions and a batch of chunks in a fresh process: no torch, transformers or
    sentence-transformers; and once the graph is cached, not even onnx or safetensors."""
    code = (
        "import sys\n"
        "from assistant.embeddings import MiniLMEmbeddings\n"
        f"e = MiniLMEmbeddings(cache_dir={str(tmp_path)!r})\n"
        "e.embed_query('What is contributor timing?')\n"
        "e.embed_documents(['The swing side attacks forward into position.'] * 40)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'transformers', 'sentence_transformers', 'onnx', 'safetensors'})))\n"
    )
    for expected in ("onnx safetensors", ""):  # builds the graph, then finds it cached
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip() == expected, out.stdout


def test_live_against_sentence_transformers_when_installed(embeddings):
    """The optional cross-check (`pip install -e '.[torch]'`): the torch model itself, live."""
    pytest.importorskip("torch")
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(embeddings.model_path, device="cpu")
    texts = QUESTIONS + ["The pushing side expresses force into the ground. " * 12]
    theirs = model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
    mine = np.array(embeddings.embed_documents(texts))
    assert np.sum(mine * theirs, axis=1).min() >= LEAST_COSINE
    mine = np.array([embeddings.embed_query(t) for t in texts])
    assert np.sum(mine * theirs, axis=1).min() >= LEAST_COSINE
