"""The web chat's controller (assistant.chat.ChatController) without a browser or a Gradio server.

It runs over the real answering service (composer, the session's real Chroma index, real MiniLM)
and a real ConversationStore on SQLite in tmp_path. Every event is called as the UI calls it, with
plain values, and what comes back is plain state: Chatbot messages, turns, the banner's problem.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from assistant.answering import AnsweringService
from assistant.chat import (
    API_BLANK_TEXT,
    BLANK_TEXT,
    ERROR_TEXT,
    ChatController,
    ChatError,
    ChatStep,
    ChatView,
    Forgotten,
    new_session_id,
)
from assistant.chat_render import escape_html
from assistant.conversations import ConversationStore
from assistant.store import StoreError

QUESTION = "What is contributor timing?"


@pytest.fixture
def store(tmp_path) -> ConversationStore:
    return ConversationStore(tmp_path / "app.sqlite")


@pytest.fixture
def controller(service, store, glossary) -> ChatController:
    return ChatController(service, store, glossary)


def _ask(controller: ChatController, question: str, session: str, chat=None, turns=None) -> list[ChatStep]:
    """Every step as it was when yielded (the controller updates one chat list in place)."""
    return [copy.deepcopy(step) for step in controller.respond(question, session, chat or [], turns or [])]


class BrokenIndexService(AnsweringService):
    """The real service whose index breaks while it answers."""

    def stream(self, question, history=None, backend=None):
        raise StoreError("The AQ index is corrupt. Rebuild it with: aq-coach ingest --rebuild")
        yield  # a generator, as the real one


class CrashingService(AnsweringService):
    """The real service with a bug that surfaces after the first piece of the answer."""

    def stream(self, question, history=None, backend=None):
        for item in super().stream(question, history, backend):
            yield item
            raise RuntimeError("secret internal detail")


def _broken(kind, service) -> AnsweringService:
    return kind(service.settings, service.searcher, service.glossary)


# --- respond ----------------------------------------------------------------------------------

def test_respond_streams_growing_partial_answers_then_the_final_answer_with_sources(controller, service):
    session = new_session_id()
    steps = _ask(controller, QUESTION, session)

    first = steps[0]
    assert first.clear_input and first.lock_input and first.session_id == session
    assert [m["role"] for m in first.chat] == ["user", "assistant"] and first.chat[-1]["content"] == "…"

    partial = [s.chat[-1]["content"] for s in steps[1:-1]]
    assert len(partial) >= 2, "the answer did not stream in pieces"
    assert all(later.startswith(earlier) and len(later) > len(earlier) for earlier, later in zip(partial, partial[1:]))
    assert all("aq-sources" not in p for p in partial)
    assert not any(s.lock_input or s.clear_input or s.problem for s in steps[1:])  # the input stays as it is

    final = steps[-1]
    expected = service.answer(QUESTION, [])
    assert final.chat[-1]["content"].startswith(escape_html(expected.text.strip())[:40])
    assert '<details class="aq-sources">' in final.chat[-1]["content"]
    answer_turn = final.turns[-1]
    assert answer_turn["content"] == expected.text and answer_turn["question"] == QUESTION
    assert answer_turn["backend"] == "composer" and not answer_turn["note"]
    assert answer_turn["sources"] and {"section", "excerpt"} <= set(answer_turn["sources"][0])
    assert len(final.chat) == len(final.turns) == 2


def test_respond_stores_the_question_and_the_answer(controller, store):
    session = new_session_id()
    final = _ask(controller, QUESTION, session)[-1]
    messages = store.messages(session)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == QUESTION and messages[0]["id"] == final.turns[0]["message_id"]
    assert messages[1]["content"] == final.turns[1]["content"] and messages[1]["id"] == final.turns[1]["message_id"]
    assert messages[1]["sources"] == final.turns[1]["sources"] and messages[1]["backend"] == "composer"


def test_a_follow_up_is_answered_in_its_conversation(controller, store):
    session = new_session_id()
    first = _ask(controller, "What is the swing side?", session)[-1]
    follow = _ask(controller, "How does it relate to the pushing side?", session, first.chat, first.turns)[-1]
    assert [m["role"] for m in follow.chat] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in store.history(session)][::2] == ["What is the swing side?",
                                                                  "How does it relate to the pushing side?"]


def test_the_question_is_shown_escaped(controller):
    steps = _ask(controller, "<script>alert(1)</script> what is contributor timing?", new_session_id())
    shown = steps[-1].chat[0]["content"]
    assert "<script" not in shown and "&lt;script&gt;" in shown
    assert steps[-1].turns[0]["content"] == "<script>alert(1)</script> what is contributor timing?"  # raw text kept


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_a_blank_question_gets_the_blank_message_and_stores_nothing(controller, store, blank):
    session = new_session_id()
    steps = _ask(controller, blank, session)
    assert len(steps) == 1
    step = steps[0]
    assert step.clear_input and not step.lock_input and step.problem is None
    assert step.chat == [{"role": "assistant", "content": BLANK_TEXT}] and step.turns[0]["note"]
    assert store.messages(session) == [] and store.conversations(session) == []


def test_a_page_closed_mid_stream_still_keeps_the_answer(controller, store):
    session = new_session_id()
    steps = controller.respond(QUESTION, session, [], [])
    next(steps)   # the question, with the placeholder
    next(steps)   # the first piece of the answer
    steps.close()
    assert [m["role"] for m in store.messages(session)] == ["user", "assistant"]


def test_a_chat_out_of_step_with_its_turns_is_rebuilt_from_the_database(controller):
    session = new_session_id()
    first = _ask(controller, QUESTION, session)[-1]
    steps = _ask(controller, "What is the swing side?", session, first.chat, first.turns[:1])
    assert [m["role"] for m in steps[-1].chat] == ["user", "assistant", "user", "assistant"]


# --- load, restore, new chat ------------------------------------------------------------------

def test_a_new_browser_gets_a_fresh_session_and_an_empty_chat(controller):
    for stored in ("", None, "../etc/passwd", "x" * 32):
        view = controller.load(stored)
        assert isinstance(view, ChatView) and len(view.session_id) == 32 and view.session_id != stored
        assert view.chat == [] and view.turns == [] and view.thumbs == [] and view.problem is None


def test_a_restored_session_returns_its_open_conversation(service, store, glossary):
    session = new_session_id()
    final = _ask(ChatController(service, store, glossary), QUESTION, session)[-1]
    controller = ChatController(service, store, glossary)  # a returning browser, maybe on another server
    view = controller.load(session)
    assert view.session_id == session
    assert view.chat == final.chat and view.turns == final.turns
    assert view.thumbs == [None]
    other = controller.load(new_session_id())
    assert other.chat == []  # sessions never see each other


def test_new_chat_starts_a_new_conversation_without_deleting_old_messages(controller, store):
    session = new_session_id()
    _ask(controller, QUESTION, session)
    view = controller.new_chat(session)
    assert view.session_id == session and view.chat == [] and view.turns == [] and view.thumbs == []
    assert controller.load(session).chat == []
    _ask(controller, "What is the swing side?", session)
    assert [m["content"] for m in store.history(session)][0] == "What is the swing side?"
    conversations = store.conversations(session)
    assert len(conversations) == 2 and conversations[0]["closed_at"] and conversations[0]["messages"] == 2


# --- forget this chat -------------------------------------------------------------------------

def test_forget_this_chat_deletes_the_session_and_empties_the_chat(controller, store):
    session, other = new_session_id(), new_session_id()
    first = _ask(controller, QUESTION, session)[-1]
    controller.like(session, first.turns, 1, True)
    controller.new_chat(session)
    _ask(controller, "What is the swing side?", session)
    _ask(controller, "What is the pushing side?", other)

    done = controller.forget(session)
    assert isinstance(done, Forgotten)
    assert done.counts == {"conversations": 2, "messages": 4, "feedback": 1}
    assert done.status == "Chat forgotten: 4 messages and 1 rating deleted for good."
    assert done.session_id != session and len(done.session_id) == 32   # the browser starts afresh, unlinked
    assert store.messages(session) == [] and store.conversations(session) == [] and store.ratings(session) == {}
    assert store.export_feedback() == [] and controller.load(session).chat == []
    assert [m["role"] for m in store.messages(other)] == ["user", "assistant"]   # another athlete's chat stays

    for nothing in (session, new_session_id(), "", None, "../etc/passwd"):   # nothing stored: said, not an error
        again = controller.forget(nothing)
        assert again.counts == {"conversations": 0, "messages": 0, "feedback": 0}
        assert again.status == "Nothing was stored for this chat, so there was nothing to delete."


def test_a_page_still_showing_a_forgotten_chat_continues_without_it(service, store, glossary, tmp_path):
    """Forgotten through replica B (another store on the same database), the page on replica A still
    shows the old chat: its next question is answered and shown without it, as the database has it."""
    a = ChatController(service, store, glossary)
    b = ChatController(service, ConversationStore(store.url, served_by="b"), glossary)
    session = new_session_id()
    first = _ask(a, "What is the swing side?", session)[-1]
    assert b.load(session).chat == first.chat                  # B serves A's conversation …
    assert b.forget_session_api(session)["messages"] == 2
    assert b.load(session).chat == [] and a.load(session).chat == []   # … and neither serves it once forgotten
    follow = _ask(a, "How does it relate to the pushing side?", session, first.chat, first.turns)[-1]
    assert [m["role"] for m in follow.chat] == ["user", "assistant"]
    assert follow.turns[0]["content"] == "How does it relate to the pushing side?"
    assert [m["content"] for m in store.history(session)][0] == "How does it relate to the pushing side?"
    assert len(store.messages(session)) == 2


def test_an_answer_finishing_after_its_chat_was_forgotten_is_not_stored(controller, store):
    session = new_session_id()
    steps = controller.respond(QUESTION, session, [], [])
    first = next(steps)                                         # the question is stored, the answer on its way
    assert first.lock_input and len(store.messages(session)) == 1
    assert controller.forget(session).counts["messages"] == 1
    final = list(steps)[-1]
    assert final.chat[-1]["content"] and final.turns[-1]["message_id"] is None   # shown on that page, not kept
    assert store.messages(session) == [] and store.conversations(session) == []


def test_forget_session_api(controller, store):
    session = new_session_id()
    list(controller.chat_session_api(QUESTION, session, "turn-1"))
    done = controller.forget_session_api(session)
    assert done == {"session_id": session, "conversations": 1, "messages": 2, "feedback": 0,
                    "message": "Chat forgotten: 2 messages deleted for good."}
    assert store.messages(session) == []
    assert controller.forget_session_api(session)["messages"] == 0
    for bad in ("not-a-session", "", None, 42):
        with pytest.raises(ChatError, match="32 hex"):
            controller.forget_session_api(bad)


class UnreachableStore(ConversationStore):
    """The real store whose database goes away when a chat is forgotten."""

    def forget(self, session_id):
        from sqlalchemy.exc import OperationalError

        raise OperationalError("DELETE FROM messages", {}, Exception("connection refused (secret detail)"))


def test_a_failed_forget_says_so_and_keeps_the_chat(service, glossary, tmp_path):
    controller = ChatController(service, UnreachableStore(tmp_path / "app.sqlite"), glossary)
    session = new_session_id()
    done = controller.forget(session)
    assert done.counts is None and done.session_id == session and "could not be forgotten" in done.status
    with pytest.raises(ChatError, match="could not be forgotten") as err:
        controller.forget_session_api(session)
    assert "secret" not in str(err.value)


# --- feedback ---------------------------------------------------------------------------------

def test_like_stores_feedback_and_unlike_removes_it(controller, store):
    session = new_session_id()
    final = _ask(controller, QUESTION, session)[-1]

    rated = controller.like(session, final.turns, 1, True)
    assert rated.feedback_id is not None and rated.ask_comment and "👍" in rated.status
    rows = store.export_feedback()
    assert len(rows) == 1 and rows[0]["rating"] == 1 and rows[0]["question"] == QUESTION
    assert rows[0]["answer"] == final.turns[1]["content"] and rows[0]["backend"] == "composer" and rows[0]["sources"]
    assert controller.load(session).thumbs == ["Like"]

    again = controller.like(session, final.turns, 1, "Dislike")  # changed their mind: the same row
    assert again.feedback_id == rated.feedback_id and store.export_feedback()[0]["rating"] == -1
    assert controller.load(session).thumbs == ["Dislike"]

    removed = controller.like(session, final.turns, 1, None)  # the same thumb again
    assert removed.feedback_id is None and not removed.ask_comment and removed.status == "Rating removed."
    assert store.export_feedback() == [] and controller.load(session).thumbs == [None]


def test_only_answers_can_be_rated(controller, store):
    session = new_session_id()
    final = _ask(controller, QUESTION, session)[-1]
    blank = _ask(controller, " ", session, final.chat, final.turns)[-1]
    for index in (0, 2, 99, None, "1"):   # the question, the blank-question note, out of range, malformed
        rated = controller.like(session, blank.turns, index, True)
        assert rated.feedback_id is None and not rated.ask_comment and "Only" in rated.status
    assert store.export_feedback() == []


def test_a_rating_stores_the_database_answer_whatever_the_page_sends_back(controller, store):
    """The turns live in the page, so a page can send back anything: what is rated is the stored
    answer of this session, and another session's answer cannot be rated from here."""
    session, other = new_session_id(), new_session_id()
    final = _ask(controller, QUESTION, session)[-1]
    theirs = _ask(controller, "What is the swing side?", other)[-1]
    forged = copy.deepcopy(final.turns)
    forged[1].update(content="Coordination causes speed.", question="Is coordination the cause?", backend="gpt-x",
                     sources=[{"title": "made up"}])
    rated = controller.like(session, forged, 1, True)
    row = store.export_feedback()[0]
    assert rated.feedback_id == row["id"] and row["question"] == QUESTION and row["backend"] == "composer"
    assert row["answer"] == final.turns[1]["content"] and "made up" not in str(row["sources"])

    borrowed = copy.deepcopy(final.turns)
    borrowed[1]["message_id"] = theirs.turns[1]["message_id"]  # an answer of another session
    for turns in (borrowed, [{"role": "assistant"}, "x"], {"1": final.turns[1]}, "[]", None):
        assert controller.like(session, turns, 1, True).feedback_id is None, turns
    assert len(store.export_feedback()) == 1
    for bad_id in ("1", True, [1], {"id": 1}):
        assert not controller.save_comment(session, bad_id, "nice").saved


def test_turns_that_are_not_turns_are_rebuilt_from_the_database(controller):
    session = new_session_id()
    first = _ask(controller, QUESTION, session)[-1]
    for junk in ("not a list", [1, 2], {"a": 1}):
        final = _ask(controller, "What is the swing side?", session, first.chat, junk)[-1]
        assert len(final.turns) == len(final.chat) and all(isinstance(t, dict) for t in final.turns)
        assert final.turns[0]["content"] == QUESTION
        first = final


def test_a_comment_is_saved_on_the_rated_answer(controller, store):
    session = new_session_id()
    final = _ask(controller, QUESTION, session)[-1]
    assert not controller.save_comment(session, None, "nice").saved  # nothing rated yet
    rated = controller.like(session, final.turns, 1, False)
    assert not controller.save_comment(session, rated.feedback_id, "   ").saved
    assert not controller.save_comment(session, rated.feedback_id, "   ").status.startswith("Thanks")
    result = controller.save_comment(session, rated.feedback_id, "Too vague for me")
    assert result.saved and result.status.startswith("Thanks")
    assert store.export_feedback()[0]["comment"] == "Too vague for me"


# --- problems become a banner or a sentence, never an exception ---------------------------------

def test_a_store_error_while_answering_becomes_the_banner(service, store, glossary):
    controller = ChatController(_broken(BrokenIndexService, service), store, glossary)
    steps = _ask(controller, QUESTION, new_session_id())
    last = steps[-1]
    assert "aq-coach ingest --rebuild" in last.problem
    assert last.chat[-1]["content"].startswith("⚠️ **AQ Coach can't answer yet.**")
    assert "`aq-coach ingest --rebuild`" in last.chat[-1]["content"]


def test_a_failing_service_gives_a_friendly_sentence(service, store, glossary):
    controller = ChatController(_broken(CrashingService, service), store, glossary)
    last = _ask(controller, QUESTION, new_session_id())[-1]
    assert last.chat[-1]["content"] == ERROR_TEXT and last.problem is None
    with pytest.raises(ChatError) as err:
        list(controller.chat_api(QUESTION))
    assert str(err.value) == ERROR_TEXT and "secret" not in str(err.value)


def test_no_index_shows_the_banner_and_answers_with_it(store, glossary):
    controller = ChatController(None, store, glossary, startup_problem="The AQ index is empty. Build it with: aq-coach ingest")
    assert "aq-coach ingest" in controller.load("").problem
    session = new_session_id()
    [step] = _ask(controller, QUESTION, session)
    assert step.problem and "aq-coach ingest" in step.problem and step.clear_input and not step.lock_input
    assert [m["role"] for m in step.chat] == ["user", "assistant"] and "`aq-coach ingest`" in step.chat[-1]["content"]
    assert store.messages(session) == []
    with pytest.raises(ChatError, match="aq-coach ingest"):
        list(controller.chat_api(QUESTION))


# --- the API endpoints ------------------------------------------------------------------------

def test_chat_api_sends_a_composed_answer_whole_and_ends_on_it(controller, service):
    """The composer writes its whole answer at once, so the API sends it as one output (per-sentence
    events only cost the server); an LLM's sentences stream (tests/test_smollm2_streaming.py)."""
    outputs = list(controller.chat_api(QUESTION))
    assert len(outputs) == 1
    assert outputs[-1] == service.answer(QUESTION, []).text.strip()
    assert all(later.startswith(earlier) for earlier, later in zip(outputs, outputs[1:-1]))


def test_chat_with_history_api(controller):
    first = list(controller.chat_with_history_api("What is the pushing side?", ""))[-1]
    history = json.dumps([{"role": "user", "content": "What is the pushing side?"}, {"role": "assistant", "content": first}])
    follow = list(controller.chat_with_history_api("and the swing side?", history))[-1]
    assert "swing side" in follow.lower()
    with pytest.raises(ChatError, match="history_json must be a JSON list"):
        list(controller.chat_with_history_api("and the swing side?", '{"role": "user"}'))
    with pytest.raises(ChatError, match="empty"):
        list(controller.chat_with_history_api(" ", "[]"))


def test_chat_api_blank_question(controller):
    for blank in ("", "   ", None):
        with pytest.raises(ChatError) as err:
            list(controller.chat_api(blank))
        assert str(err.value) == API_BLANK_TEXT


def test_chat_session_api_stores_the_turn_once(controller, store):
    session = new_session_id()
    first = list(controller.chat_session_api(QUESTION, session, "turn-1"))[-1]
    again = list(controller.chat_session_api(QUESTION, session, "turn-1"))
    assert again == [first]   # a retried turn returns the stored answer
    assert [m["role"] for m in store.messages(session)] == ["user", "assistant"]
    with pytest.raises(ChatError, match="32 hex"):
        list(controller.chat_session_api(QUESTION, "not-a-session"))
    with pytest.raises(ChatError, match="turn_id"):
        list(controller.chat_session_api(QUESTION, session, "no spaces"))


def test_the_controller_never_imports_gradio():
    code = "import sys, assistant.chat; print(any(m == 'gradio' or m.startswith('gradio.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_the_api_streams_only_for_an_answerer_that_writes_as_it_streams(service, store, glossary, indexed_settings, searcher):
    from assistant.backends.chatmodel import ChatModelAnswerer

    class ModelAnswerer(ChatModelAnswerer):  # a chat-model answerer; its model is never called here
        name = "scripted"

    assert ChatController(service, store, glossary).answers_stream() is False   # the composer: whole at once
    llm = ModelAnswerer()
    model_service = AnsweringService(indexed_settings.model_copy(update={"backend": "llamacpp"}), searcher, glossary, answerer=llm)
    assert ChatController(model_service, store, glossary).answers_stream() is True
    assert ChatController(None, store, glossary, startup_problem="no index").answers_stream() is False
