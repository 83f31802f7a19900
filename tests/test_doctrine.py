"""Each corpus's own doctrine: a corpus folder with its own doctrine.yaml changes what the guard and the
scope do, and nothing falls back to the project's file silently."""

from __future__ import annotations

import shutil

import pytest
import yaml
from helpers import SHIPPED_CORPUS
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from assistant.answering import AnsweringService
from assistant.backends.chatmodel import ChatModelAnswerer
from assistant.corpus import CorpusError
from assistant.doctrine import load
from assistant.indexing import corpus_chunks, doctrine_for, framing_judge_for

# A claim that is AQ's forbidden one only when the doctrine's subject is "rhythm".
RHYTHM_CLAIM = "Rhythm is what makes elite sprinters fast, so train your rhythm to run faster."
SAFE = "AQ says sprinting feels smoother when sprint-system relationships improve together."


class ScriptedLLM(ChatModelAnswerer):
    """An LLM answerer whose chat model says the scripted replies in order (the real chain runs)."""

    name = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.chat_model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))

    def _invoke(self, chain, inputs: dict) -> str:
        return chain.invoke(inputs)

    def _stream(self, chain, inputs: dict):
        yield self._invoke(chain, inputs)


@pytest.fixture
def rhythm_corpus(tmp_path):
    """The shipped corpus, with a doctrine of its own: its subject is "rhythm", and hurdles are out of scope."""
    folder = tmp_path / "rhythm-corpus"
    shutil.copytree(SHIPPED_CORPUS, folder)
    data = yaml.safe_load((folder / "doctrine.yaml").read_text(encoding="utf-8"))
    data.update(subject="rhythm", subject_pattern=r"rhythm\w*")
    data["out_of_scope"] = [*data["out_of_scope"], r"hurdl\w*"]
    (folder / "doctrine.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def _service(indexed_settings, searcher, glossary, corpus_dir, replies) -> AnsweringService:
    settings = indexed_settings.model_copy(update={"backend": "llamacpp", "corpus_dir": corpus_dir})
    return AnsweringService(settings, searcher, glossary, answerer=ScriptedLLM(replies))


def test_a_corpus_doctrine_of_its_own_changes_what_the_guard_stops(indexed_settings, searcher, glossary, rhythm_corpus):
    question = "Is rhythm the reason some sprinters are faster?"
    replies = [RHYTHM_CLAIM, RHYTHM_CLAIM, RHYTHM_CLAIM]
    ours = _service(indexed_settings, searcher, glossary, rhythm_corpus, replies).answer(question)
    assert any(e.startswith("causal") for e in ours.guard.evidence), ours.guard.evidence
    assert ours.guard.action != "passed" and "makes elite sprinters fast" not in ours.text
    # AQ's doctrine has no view on rhythm: its guard may drop the claim as unsupported, never as causal
    aq = _service(indexed_settings, searcher, glossary, SHIPPED_CORPUS, replies).answer(question)
    assert not any(e.startswith("causal") for e in aq.guard.evidence), aq.guard.evidence


def test_a_corpus_doctrine_of_its_own_changes_the_scope(indexed_settings, searcher, glossary, rhythm_corpus):
    question = "Which hurdle heights suit a 14-year-old?"
    ours = _service(indexed_settings, searcher, glossary, rhythm_corpus, [SAFE]).plan(question, [])
    aq = _service(indexed_settings, searcher, glossary, SHIPPED_CORPUS, [SAFE]).plan(question, [])
    assert ours.intent == "out_of_scope"
    assert aq.intent != "out_of_scope"


def test_the_judge_and_the_units_follow_the_corpus_doctrine(settings, rhythm_corpus):
    folder_settings = settings.model_copy(update={"corpus_dir": rhythm_corpus})
    judge = framing_judge_for(folder_settings)
    assert judge.judge_sentence(RHYTHM_CLAIM).label == "causal"
    assert judge.judge_sentence("Coordination is what makes elite sprinters fast.").label != "causal"
    assert doctrine_for(folder_settings).subject == "rhythm"


def test_no_silent_fallback(tmp_path, settings):
    with pytest.raises(CorpusError):
        load(tmp_path / "missing" / "doctrine.yaml")
    bare = tmp_path / "bare-corpus"
    shutil.copytree(SHIPPED_CORPUS, bare)
    (bare / "doctrine.yaml").unlink()
    chunks, warnings = corpus_chunks(settings.model_copy(update={"corpus_dir": bare}))
    assert chunks and any("doctrine.yaml" in w for w in warnings), "a corpus without a doctrine is answered with AQ's, and told so"
