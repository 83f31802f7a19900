"""The offline MiniLM: questions through the ONNX Runtime export, chunks through torch, and the
export's own safety (made once, checked against torch, made again when damaged, torch when not)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.embeddings import MiniLMEmbeddings, OnnxQueryEncoder, onnx_query_encoder

QUESTIONS = [
    "What is contributor timing?",
    "Why does my sprint feel heavy and rushed some days but smooth on others?",
    "speed",
    "How do I keep sprint-system continuity " * 60,  # past the model's 256 tokens: truncated alike
]


def _torch(embeddings, texts):
    return embeddings.model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)


def test_questions_are_embedded_through_onnx_and_agree_with_torch(embeddings):
    assert embeddings.query_engine == "onnx"
    mine = np.array([embeddings.embed_query(q) for q in QUESTIONS])
    cosines = np.sum(mine * _torch(embeddings, QUESTIONS), axis=1)
    assert cosines.min() >= 0.99999, cosines


def test_a_questions_onnx_vector_does_not_depend_on_the_batch_it_is_padded_into(embeddings):
    """Concurrent questions are encoded in one padded batch (MiniLMEmbeddings.embed_query)."""
    encoder = onnx_query_encoder(embeddings.model_path, str(embeddings.cache_dir))
    question = QUESTIONS[0]
    alone = encoder.encode([question])[0]
    padded = encoder.encode([question, QUESTIONS[1], QUESTIONS[3]])[0]
    assert np.abs(alone - padded).max() < 1e-5


def test_the_export_is_made_once_and_then_reused(tmp_path, embeddings):
    onnx_query_encoder.cache_clear()
    first = MiniLMEmbeddings(cache_dir=tmp_path)
    vector = first.embed_query("What is swing-side thrust?")
    [export] = tmp_path.glob("*.onnx")
    made = export.stat().st_mtime_ns
    onnx_query_encoder.cache_clear()  # as a new process would
    second = MiniLMEmbeddings(cache_dir=tmp_path)
    assert second.query_engine == "onnx"
    assert export.stat().st_mtime_ns == made
    assert np.allclose(second.embed_query("What is swing-side thrust?"), vector, atol=1e-6)
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.slow
def test_a_damaged_export_is_made_again(tmp_path, embeddings):
    onnx_query_encoder.cache_clear()
    MiniLMEmbeddings(cache_dir=tmp_path).embed_query("warm up")
    [export] = tmp_path.glob("*.onnx")
    export.write_bytes(b"not an onnx graph")
    onnx_query_encoder.cache_clear()
    again = MiniLMEmbeddings(cache_dir=tmp_path)
    assert again.query_engine == "onnx"
    assert export.stat().st_size > 1_000_000
    v = np.array(again.embed_query(QUESTIONS[1]))
    assert float(v @ _torch(embeddings, [QUESTIONS[1]])[0]) >= 0.99999


def test_without_an_export_questions_use_torch(tmp_path, monkeypatch, embeddings):
    """An export that cannot be made (here: the exporter fails) costs speed, never an answer."""
    import assistant.embeddings as module

    def broken(model, target):
        raise RuntimeError("exporter unavailable")

    monkeypatch.setattr(module, "_export_onnx", broken)
    onnx_query_encoder.cache_clear()
    fallback = MiniLMEmbeddings(cache_dir=tmp_path / "empty")
    assert fallback.query_engine == "torch"
    assert np.allclose(fallback.embed_query(QUESTIONS[1]), _torch(embeddings, [QUESTIONS[1]])[0], atol=1e-6)
    onnx_query_encoder.cache_clear()


def test_an_export_that_disagrees_with_torch_is_not_used(tmp_path, monkeypatch, embeddings):
    monkeypatch.setattr(OnnxQueryEncoder, "agrees_with", lambda self, model, least_cosine=0.99999: False)
    onnx_query_encoder.cache_clear()
    assert MiniLMEmbeddings(cache_dir=tmp_path).query_engine == "torch"
    onnx_query_encoder.cache_clear()


def test_query_runtime_torch_turns_the_export_off(tmp_path):
    from assistant.config import Settings
    from assistant.embeddings import make_embeddings

    torch_only = make_embeddings(Settings(query_runtime="torch", model_cache_dir=tmp_path))
    assert torch_only.query_engine == "torch"
    assert not list(tmp_path.iterdir())
