"""Real streaming: the model's text is released sentence by sentence, each judged before it is shown.

StreamGuard is pure logic; the service tests drive the real LangChain chain over a fake chat
model that streams its tokens (GenericFakeChatModel, behind the real ChatModelAnswerer), so
the order of events can be checked: what the model produced, and what the athlete was shown.
"""

from __future__ import annotations

import threading

import pytest
from helpers import judge_framing, shipped_doctrine, shipped_judge
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from assistant.answering import Answer, AnswerDelta, AnsweringService
from assistant.backends import Piece
from assistant.backends.chatmodel import ChatModelAnswerer
from assistant.backends.composer import Composer
from assistant.guard import StreamGuard
from assistant.text import sentence_pieces

# Sentences the passages and glossary support (the grounding guard lets them through).
GOOD = ("Contributor timing is how cleanly the pushing side and swing side arrive into their aggressive movement "
        "responsibilities together [1]. When it drifts, sprinting tends to feel rushed, disconnected or off [1]. "
        "Contributor timing may need to become cleaner as speed rises [2].")
CAUSAL_MID = ("Smoother sprinting may feel lighter and easier to organize [1]. Coordination is what makes elite sprinters fast. "
              "The pushing side matters a great deal too [2].")


def _feed(guard: StreamGuard, text: str, size: int = 3) -> list[str]:
    out = []
    for i in range(0, len(text), size):  # a few characters at a time, as tokens arrive
        out += guard.feed(text[i:i + size])
    return out + guard.close()


# --- StreamGuard: pure logic -----------------------------------------------------------------------

def test_sentences_are_released_only_when_complete_and_passing():
    g = StreamGuard(shipped_judge())
    assert g.feed("The pushing side expresses force into the gro") == []   # not finished: nothing shown
    assert g.feed("und. The swing") == ["The pushing side expresses force into the ground. "]
    assert _feed(g, " side attacks into position.") == ["The swing side attacks into position."]
    assert not g.failed and g.released.endswith("position.")


def test_a_causal_sentence_mid_answer_is_never_released_and_stops_the_rest():
    g = StreamGuard(shipped_judge())
    released = _feed(g, CAUSAL_MID)
    assert released == ["Smoother sprinting may feel lighter and easier to organize [1]. "]
    assert g.failed and "coordination" in g.evidence[0].lower()
    assert "pushing side matters" not in "".join(released)


def test_a_causal_claim_split_over_two_sentences_is_still_caught():
    g = StreamGuard(shipped_judge())
    released = _feed(g, "Ask any coach about coordination. It is what makes sprinters fast. Then train it.")
    assert judge_framing("".join(released)).verdict == "pass"
    assert g.failed and "makes sprinters fast" not in "".join(released)


@pytest.mark.parametrize("text, why", [
    ("Sprinting feels lighter when timing is clean.\nQuestion: Can you give me a training plan?", "invented"),
    ("The swing side attacks into position.\nThe swing side attacks into position.\n", "repeated"),
])
def test_invented_turns_and_loops_stop_the_stream(text, why):
    g = StreamGuard(shipped_judge())
    released = _feed(g, text)
    assert len(released) == 1 and g.failed and why in g.evidence[0]


def test_sentence_pieces_add_up_to_the_text():
    text = "First point [1]. Second point, e.g. this one.\n\nThird point."
    pieces = sentence_pieces(text)
    assert "".join(pieces) == text and len(pieces) == 3


# --- the service, over a streaming chat model --------------------------------------------------------

class StreamingScriptedLLM(ChatModelAnswerer):
    """An LLM answerer whose chat model streams the scripted replies token by token; it logs what it produced."""

    name = "scripted-stream"

    def __init__(self, replies: list[str]) -> None:
        self.chat_model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))
        self.log: list[tuple[str, str]] = []
        self.produced: list[str] = []   # what each streamed call produced, in full
        self.calls = 0

    def _invoke(self, chain, inputs: dict) -> str:
        self.calls += 1
        return chain.invoke(inputs)

    def _stream(self, chain, inputs: dict):
        self.calls += 1
        self.produced.append("")
        for piece in chain.stream(inputs):
            self.log.append(("produced", piece))
            self.produced[-1] += piece
            yield piece
        self.log.append(("produced", "<end>"))


def _service(indexed_settings, searcher, glossary, llm) -> AnsweringService:
    return AnsweringService(indexed_settings.model_copy(update={"backend": "llamacpp"}), searcher, glossary, answerer=llm)


def _consume(svc, llm, question: str):
    items = []
    for item in svc.stream(question):
        if isinstance(item, AnswerDelta):
            llm.log.append(("shown", item.text))
        items.append(item)
    return items


def test_the_first_sentence_is_shown_before_the_model_finishes(indexed_settings, searcher, glossary):
    llm = StreamingScriptedLLM([GOOD])
    items = _consume(_service(indexed_settings, searcher, glossary, llm), llm, "What is contributor timing?")
    *deltas, final = items
    assert isinstance(final, Answer) and final.guard.action == "passed"
    assert len(deltas) >= 3 and "".join(d.text for d in deltas).strip() == final.text
    first_shown = next(i for i, (kind, _) in enumerate(llm.log) if kind == "shown")
    assert first_shown < llm.log.index(("produced", "<end>")), "a sentence reached the athlete mid-generation"
    assert final.timings["first_sentence_ms"] <= final.timings["generate_ms"] and "ttft_ms" in final.timings


def test_a_causal_sentence_mid_answer_never_reaches_the_stream(indexed_settings, searcher, glossary):
    llm = StreamingScriptedLLM([CAUSAL_MID, GOOD])
    items = _consume(_service(indexed_settings, searcher, glossary, llm), llm, "Why does sprinting feel smooth some days?")
    *deltas, final = items
    shown = "".join(d.text for d in deltas)
    assert "makes elite sprinters fast" not in shown and "pushing side matters" not in shown
    assert shown.startswith("Smoother sprinting")  # what passed was shown …
    assert final.guard.action == "regenerated" and llm.calls == 2  # … then replaced by the retry
    assert final.text.startswith(GOOD.split(" [1]")[0])  # (less any sentence its passages don't support)
    assert "makes elite sprinters fast" not in final.text
    # the generation stopped at the failing sentence: the tokens after it were never produced
    assert "too [2]" not in llm.produced[0] and "elite sprinters fast" in llm.produced[0]


def test_when_nothing_was_shown_the_retry_streams_too(indexed_settings, searcher, glossary):
    llm = StreamingScriptedLLM(["Coordination is what makes elite sprinters fast. It drives speed.", GOOD])
    *deltas, final = _consume(_service(indexed_settings, searcher, glossary, llm), llm, "Does coordination matter?")
    assert "".join(d.text for d in deltas).strip() == final.text == GOOD


def test_two_failures_end_in_the_composer_with_a_notice(indexed_settings, searcher, glossary):
    llm = StreamingScriptedLLM([CAUSAL_MID, "Yes: coordination causes sprint speed."])
    *deltas, final = _consume(_service(indexed_settings, searcher, glossary, llm), llm, "Why does sprinting feel smooth some days?")
    assert final.guard.action == "replaced" and final.backend.startswith("composer (fallback")
    assert final.guard.notice in final.notices
    assert all("causes sprint speed" not in d.text for d in deltas)
    assert judge_framing(final.text).verdict == "pass"


def test_the_llamacpp_lock_is_released_when_a_stream_is_stopped(monkeypatch):
    from assistant.backends import AnswerRequest, llamacpp
    from assistant.corpus import Glossary
    from assistant.plan import QuestionPlan

    backend = llamacpp.LlamaCppBackend.__new__(llamacpp.LlamaCppBackend)  # no GGUF: a fake chat model in its place
    backend._lock = threading.Lock()
    backend.chat_model = GenericFakeChatModel(messages=iter([AIMessage("One. Two. Three.")]))
    doctrine = shipped_doctrine()
    plan = QuestionPlan("What is contributor timing?", "What is contributor timing?", "definition", "term")
    pieces = backend.stream(AnswerRequest(plan, [], Glossary([]), doctrine))
    assert next(pieces).startswith("One") and backend._lock.locked()
    pieces.close()  # the consumer stops (a sentence failed)
    assert not backend._lock.locked()


# --- the CLI prints as the answer arrives ---------------------------------------------------------

def test_cli_ask_never_prints_the_violating_sentence(indexed_settings, searcher, glossary, monkeypatch):
    from typer.testing import CliRunner

    from assistant import cli

    llm = StreamingScriptedLLM([CAUSAL_MID, GOOD])
    monkeypatch.setattr(cli, "_service", lambda backend: _service(indexed_settings, searcher, glossary, llm))
    r = CliRunner().invoke(cli.app, ["ask", "Why does sprinting feel smooth some days?"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Smoother sprinting may feel lighter")  # streamed as it arrived
    assert "makes elite sprinters fast" not in r.output
    assert "instead" in r.output and "Contributor timing is how cleanly" in r.output  # the replacement, said so


def test_cli_ask_json_is_still_one_object(indexed_settings, searcher, glossary, monkeypatch):
    import json

    from typer.testing import CliRunner

    from assistant import cli

    llm = StreamingScriptedLLM([GOOD])
    monkeypatch.setattr(cli, "_service", lambda backend: _service(indexed_settings, searcher, glossary, llm))
    r = CliRunner().invoke(cli.app, ["ask", "What is contributor timing?", "--json"])
    data = json.loads(r.output)
    assert data["answer"] == GOOD and data["guard"]["action"] == "passed" and "ttft_ms" in data["timings"]


# --- the API streams for gradio_client's submit ---------------------------------------------------

def test_chat_api_streams_partial_outputs_and_ends_on_the_whole_answer(indexed_settings, searcher, glossary, tmp_path):
    import time

    from gradio_client import Client

    from assistant.conversations import ConversationStore
    from assistant.ui import build_app
    from tests.test_ui import _start

    llm = StreamingScriptedLLM([GOOD])
    settings = indexed_settings.model_copy(update={"backend": "llamacpp"})
    demo = build_app(_service(indexed_settings, searcher, glossary, llm), ConversationStore(tmp_path / "app.sqlite"), glossary,
                     settings)
    try:
        url = _start(demo, settings)
        job = Client(url, verbose=False).submit("What is contributor timing?", api_name="/chat")
        while not job.done():
            time.sleep(0.02)
        outputs = job.outputs()
        assert len(outputs) >= 3 and outputs[0] != outputs[-1]     # several partial outputs …
        assert all(later.startswith(earlier) for earlier, later in zip(outputs, outputs[1:-1]))
        assert job.result() == outputs[-1] == GOOD                 # … and the whole answer last
    finally:
        demo.close()


# --- the grounding guard -------------------------------------------------------------------------

def test_an_invented_plan_is_left_out_and_a_mostly_invented_answer_falls_back(indexed_settings, searcher, glossary):
    plan = ("To increase your stride frequency, increase your leg length. Do planks and crunches three times a week. "
            "Run 10 x 30 m sprints with a metronome at 4.5 steps per second.")
    llm = StreamingScriptedLLM([plan, plan])
    *deltas, final = _consume(_service(indexed_settings, searcher, glossary, llm), llm, "How do I increase my stride frequency?")
    shown = "".join(d.text for d in deltas)
    assert "planks" not in shown and "metronome" not in shown and "leg length" not in shown
    assert final.backend.startswith("composer (fallback") and final.guard.action == "replaced"
    assert any("unsupported" in e for e in final.guard.evidence)


def test_one_unsupported_sentence_is_dropped_when_the_rest_stands(indexed_settings, searcher, glossary):
    reply = GOOD + " Eat a banana before every race."
    llm = StreamingScriptedLLM([reply])
    *deltas, final = _consume(_service(indexed_settings, searcher, glossary, llm), llm, "What is contributor timing?")
    assert final.guard.action == "passed" and "banana" not in final.text and "banana" not in "".join(d.text for d in deltas)
    assert final.text.startswith("Contributor timing is how cleanly")
    assert any("banana" in e for e in final.guard.evidence)


# --- one answerer interface: the composer goes through the same path ----------------------------------

def test_a_faithful_answerers_flagged_sentence_is_left_out_and_the_rest_stands():
    g = StreamGuard(shipped_judge(), drop_failing=True)
    released = _feed(g, "Smoother sprinting may feel lighter [1].\n\nCoordination is what makes elite sprinters fast. [2]\n\n"
                        "The pushing side matters a great deal too [3].")
    text = "".join(released)
    assert not g.failed and "makes elite sprinters fast" not in text and "[2]" not in text  # nor its orphaned citation
    assert "feel lighter" in text and "pushing side matters" in text
    assert g.left_out == ["Coordination is what makes elite sprinters fast."] and judge_framing(text).verdict == "pass"


class QuotingComposer(Composer):
    """The real composer, with one causal line slipped in mid-answer (as a poisoned article would)."""

    def stream(self, request):
        pieces = list(super().stream(request))
        yield from pieces[:1]
        yield Piece("Coordination is what makes elite sprinters fast.\n\n", "poisoned")
        yield from pieces[1:]


def test_the_composer_answers_through_the_same_guarded_stream(indexed_settings, searcher, glossary):
    """The service has no composer branch: a composer's pieces pass the sentence guard like a model's,
    and a flagged one is left out (not retried: a quoted answer has nothing to regenerate)."""
    service = AnsweringService(indexed_settings, searcher, glossary)
    quoting = QuotingComposer(glossary, service.doctrine, service.framing, searcher.embeddings)
    service = AnsweringService(indexed_settings, searcher, glossary, answerer=quoting)
    items = list(service.stream("What is contributor timing?"))
    final, deltas = items[-1], [i for i in items if isinstance(i, AnswerDelta)]
    shown = "".join(d.text for d in deltas)
    assert "makes elite sprinters fast" not in shown and "makes elite sprinters fast" not in final.text
    assert final.guard.action == "filtered" and final.guard.attempts == 1 and final.backend == "composer"
    assert shown.strip() == final.text and all(d.buffered for d in deltas)  # written at once: a client may wait for it
    assert all(t["chunk_id"] != "poisoned" for t in final.trace)


def test_composer_pieces_carry_their_chunk_ids_and_add_up_to_its_answer(indexed_settings, searcher, glossary, service):
    from assistant.backends import AnswerRequest

    plan = service.planner.plan("Why does my sprint feel off?", [])
    passages = searcher.search(plan.standalone, 8)
    request = AnswerRequest(plan, passages[:4], glossary, service.doctrine, more_passages=passages[4:])
    pieces = list(service.composer.stream(request))
    assert "".join(pieces) == service.composer.compose(plan, passages).text
    cited = [p.chunk_id for p in pieces if p.chunk_id and not p.chunk_id.startswith("doctrine:")]
    assert cited and set(cited) <= {h.id for h in passages}
    final = service.answer("Why does my sprint feel off?")
    quoted = [t["chunk_id"] for t in final.trace if t["chunk_id"] and not t["chunk_id"].startswith("doctrine:")]
    assert [s.id for s in final.sources] == list(dict.fromkeys(quoted))  # the chunks it quoted, in order
