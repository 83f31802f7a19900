"""The web chat's controller: every UI event as a plain method over the service, the store and the glossary.

`ChatController` holds the AnsweringService, the ConversationStore and the glossary, and answers one
method per event of the athletes' chat (load, respond, new chat, forget, like, comment) and per API
endpoint. It takes plain values (the question, the browser's session id, the chat as it stands)
and returns plain state: Chatbot message dicts, the per-message "turns" records, the banner's
problem, a status line. It never imports Gradio; `assistant.ui` lays out the page and turns this
state into Gradio updates, in the style of smolagents' gradio_ui.py. So the whole conversation
logic is tested without a browser (tests/test_chat_controller.py).

What the Chatbot shows (escaped messages, rendered answers, the glossary, the banner) is rendered
by assistant.chat_render.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .chat_render import (
    answer_notices,
    banner_markdown,
    escape_html,
    escape_user_text,
    forgotten_status,
    glossary_markdown,
    render_message,
)
from .text import history_messages, history_shape

if TYPE_CHECKING:  # imported when first needed: the answering stack is slow to import
    from .answering import Answer, AnsweringService
    from .conversations import ConversationStore
    from .corpus import Glossary

log = logging.getLogger(__name__)

BLANK_TEXT = "Type a question about your sprinting first, for example: *What is contributor timing?*"
API_BLANK_TEXT = "The question is empty; ask something about sprinting."
HISTORY_SHAPE = history_shape("history_json")
ERROR_TEXT = "Sorry, something went wrong while answering. Please try again in a moment."
NO_INDEX_TEXT = "The AQ index is not available."
SESSION_ID_TEXT = "session_id must be 32 hex characters, e.g. uuid.uuid4().hex"
FORGET_FAILED_TEXT = "Sorry, the chat could not be forgotten just now. Please try again in a moment."
THUMBS = {1: "Like", -1: "Dislike"}   # the Chatbot's feedback options, by stored rating
_SESSION_RE = re.compile(r"^[0-9a-f]{32}$")


# --- the API's input and the browser's session --------------------------------------------------

def parse_history_json(text: Any) -> list[dict]:
    """The /chat_with_history history: a JSON list of {"role": "user"|"assistant", "content": str}.

    "" (or None, or "[]") is an empty history; anything else that is not such a list raises
    ValueError with a message for the API caller.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return []
    data = text
    if isinstance(text, str):
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError(HISTORY_SHAPE + " (it is not valid JSON)") from None
    return history_messages(data, "history_json")


def new_session_id() -> str:
    return uuid.uuid4().hex


def valid_session_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _SESSION_RE.match(value) else None


def session_of(value: Any) -> str:
    """The browser's stored session id, or a fresh one when it has none (or a malformed one)."""
    return valid_session_id(value) or new_session_id()


def index_problem(service: AnsweringService | None, startup_problem: str | None = None) -> str | None:
    """Why the index cannot answer, or None when it can."""
    if startup_problem:
        return startup_problem
    if service is None:
        return "The AQ index is not available. Build it with: aq-coach ingest"
    from .store import StoreError

    try:
        return service.searcher.current_status().problem()  # read at most once a second: every answer asks
    except StoreError as exc:
        return str(exc)
    except Exception:  # never let a status check take the page down
        log.exception("index status check failed")
        return "The AQ index cannot be read. Rebuild it with: aq-coach ingest --rebuild"


# --- conversation records -----------------------------------------------------------------------
# The Chatbot shows escaped/rendered Markdown; the raw text, sources and backend of each message
# are kept beside it ("turns", hidden in the page), one record per Chatbot message. The page sends
# them back, so what is rated is read from the database, never taken from them.

def _turn(role: str, content: str, *, sources=None, backend=None, question="", message_id=None, note=False) -> dict:
    return {"role": role, "content": content, "sources": sources or [], "backend": backend,
            "question": question, "message_id": message_id, "note": note}


def _stored_turns(store: ConversationStore, session_id: str) -> list[tuple[dict, dict]]:
    """The open conversation's stored messages, each with its turn (an answer's names its question)."""
    pairs, question = [], ""
    for m in store.messages(session_id):
        if m["role"] == "user":
            question = m["content"]
            pairs.append((m, _turn("user", m["content"], message_id=m["id"])))
        else:
            pairs.append((m, _turn("assistant", m["content"], sources=m["sources"], backend=m["backend"],
                                   question=question, message_id=m["id"])))
    return pairs


def _restore(store: ConversationStore, session_id: str) -> tuple[list[dict], list[dict]]:
    """The open conversation of a session as (chatbot messages, turns)."""
    chat, turns = [], []
    for m, turn in _stored_turns(store, session_id):
        if m["role"] == "user":
            chat.append({"role": "user", "content": escape_user_text(m["content"])})
        else:
            chat.append({"role": "assistant", "content": render_message(m["content"], m["sources"], m.get("notices") or [])})
        turns.append(turn)
    return chat, turns


def _stored_answer(store: ConversationStore, session_id: str, turns: Any, index: Any) -> dict | None:
    """The stored answer behind the Chatbot message at `index`, as the database holds it in this
    session's open conversation; None for a user message, a note, or anything the database lacks."""
    claimed = turns[index] if isinstance(turns, list) and isinstance(index, int) and 0 <= index < len(turns) else None
    message_id = claimed.get("message_id") if isinstance(claimed, dict) else None
    if message_id is None:
        return None
    return next((t for _, t in _stored_turns(store, session_id)
                 if t["role"] == "assistant" and t["message_id"] == message_id and t["question"]), None)


def _plain_source(source: Any) -> dict:
    if isinstance(source, dict):
        return dict(source)
    return {k: getattr(source, k, "") for k in ("id", "title", "section", "excerpt", "score", "question")}


# --- what the controller returns -----------------------------------------------------------------

class ChatError(Exception):
    """A problem to tell an API caller in one sentence (the UI raises it as a gr.Error)."""


@dataclass
class ChatView:
    """A whole conversation to show: after a page load, or empty after "New chat"."""

    session_id: str
    chat: list[dict]                 # Chatbot messages ({"role", "content"} with rendered Markdown)
    turns: list[dict]                # one record per Chatbot message (raw text, sources, backend, ids)
    thumbs: list[str | None] = field(default_factory=list)   # the stored rating of each answer: Like, Dislike, None
    problem: str | None = None       # why the index cannot answer (the banner), None when it can


@dataclass
class ChatStep:
    """One update while a question is answered; `chat` and `turns` are the same lists throughout."""

    session_id: str
    chat: list[dict]
    turns: list[dict]
    clear_input: bool = False        # empty the textbox
    lock_input: bool = False         # … and lock it until the answer is done
    problem: str | None = None       # show this in the banner (None: leave the banner as it is)


@dataclass
class Forgotten:
    """What "Forget this chat" did: the browser's next session id, the line to show, the rows deleted."""

    session_id: str                  # a fresh id once forgotten (the old one if it failed)
    status: str                      # the one-line confirmation
    counts: dict | None = None       # rows deleted per table; None when it failed (the chat stays on screen)


@dataclass
class Rating:
    """What a thumb click did: the feedback row to comment on (None: none) and a status line."""

    feedback_id: int | None
    status: str
    ask_comment: bool = False        # show the comment box


@dataclass
class CommentResult:
    status: str
    saved: bool = False              # the comment box can close


# --- the controller --------------------------------------------------------------------------------

class ChatController:
    """The athletes' chat over an answering service (None, with startup_problem: it only says why)."""

    def __init__(self, service: AnsweringService | None, store: ConversationStore, glossary: Glossary,
                 *, startup_problem: str | None = None) -> None:
        self.service = service
        self.store = store
        self.glossary = glossary
        self.startup_problem = startup_problem

    def problem(self) -> str | None:
        """Why the index cannot answer now, or None when it can."""
        return index_problem(self.service, self.startup_problem)

    def glossary_text(self) -> str:
        return glossary_markdown(self.glossary)

    def answers_stream(self) -> bool:
        """Does the configured answerer write as it streams (a model), rather than whole at once (the
        composer)? The API endpoints stream only then."""
        if self.service is None:
            return False
        try:
            return self.service.answerer(self.service.settings.backend).streams
        except Exception:  # a backend that cannot load: its answers fall back, and a stream costs little
            return True

    # -- page events ---------------------------------------------------------------------------
    def load(self, stored_session: Any) -> ChatView:
        """A page (re)load: the browser's session with its open conversation, ratings and the banner."""
        session_id = session_of(stored_session)
        chat, turns = _restore(self.store, session_id)
        ratings = self.store.ratings(session_id)
        thumbs = [THUMBS.get(ratings.get(t["message_id"])) for t in turns if t["role"] == "assistant"]
        return ChatView(session_id, chat, turns, thumbs, self.problem())

    def new_chat(self, stored_session: Any) -> ChatView:
        """"New chat": the open conversation is closed (kept in the database) and the chat empties."""
        session_id = session_of(stored_session)
        self.store.clear(session_id)
        return ChatView(session_id, [], [], [])

    def forget(self, stored_session: Any) -> Forgotten:
        """"Forget this chat": every conversation, message and rating of the browser's session is deleted
        from the database (so at once on every replica, which read history from it), and the browser gets a
        fresh session id, so nothing it asks next is linked to what was forgotten. (Each replica's answer
        cache keeps recent composed answers by question and history text, with no session id, until evicted.)"""
        session_id = valid_session_id(stored_session)
        try:
            counts = self.store.forget(session_id) if session_id else {"conversations": 0, "messages": 0, "feedback": 0}
        except Exception:
            log.exception("forgetting a session failed")
            return Forgotten(session_of(stored_session), FORGET_FAILED_TEXT)
        return Forgotten(new_session_id(), forgotten_status(counts), counts)

    def respond(self, message: Any, stored_session: Any, chat: list[dict] | None,
                turns: list[dict] | None) -> Iterator[ChatStep]:
        """Answer one question into the chat as it stands: a ChatStep per change, the answer growing
        as it streams (no pacing: the answering slot is freed as soon as the answer is done)."""
        session_id = session_of(stored_session)
        turns = [] if turns is None else turns
        valid = isinstance(turns, list) and all(isinstance(t, dict) for t in turns)
        chat, turns = list(chat or []), list(turns) if valid else []
        if not valid or len(turns) != len(chat) or _forgotten(self.store, session_id, turns):
            # not turns, out of step, or showing what was forgotten (on another page or replica): rebuilt from the database
            chat, turns = _restore(self.store, session_id)
        question = message if isinstance(message, str) else ""
        if not question.strip():
            _note(chat, turns, BLANK_TEXT)
            yield ChatStep(session_id, chat, turns, clear_input=True)
            return
        problem = self.problem()
        if problem or self.service is None:
            _user(chat, turns, question)
            _note(chat, turns, banner_markdown(problem or NO_INDEX_TEXT))
            yield ChatStep(session_id, chat, turns, clear_input=True, problem=problem)
            return
        # The question is kept at once (a reload while answering still shows it); the answer when done.
        history = self.store.history(session_id)
        _user(chat, turns, question, self.store.append_message(session_id, "user", question))
        chat.append({"role": "assistant", "content": "…"})
        turns.append(_turn("assistant", "", question=question, note=True))
        yield ChatStep(session_id, chat, turns, clear_input=True, lock_input=True)
        yield from self._stream(session_id, question, history, chat, turns)

    def _stream(self, session_id: str, question: str, history: list[dict], chat: list[dict],
                turns: list[dict]) -> Iterator[ChatStep]:
        """The answer into the last message: its text as it streams, then the final answer rendered
        with notices and sources (the guard's replacement, when it replaced the stream)."""
        from .answering import Answer, AnswerDelta, EmptyQuestion, with_text_so_far
        from .store import StoreError

        stream: Iterator = iter(())
        finished = False
        try:
            stream = self.service.stream(question, history)
            for streamed, item in with_text_so_far(stream):
                if isinstance(item, AnswerDelta):
                    chat[-1] = {"role": "assistant", "content": escape_html(streamed)}
                    yield ChatStep(session_id, chat, turns)
                elif isinstance(item, Answer):
                    self._finish(session_id, question, item, chat, turns)
                    finished = True
                    yield ChatStep(session_id, chat, turns)
        except EmptyQuestion:
            chat[-1] = {"role": "assistant", "content": BLANK_TEXT}
            yield ChatStep(session_id, chat, turns)
        except StoreError as exc:
            chat[-1] = {"role": "assistant", "content": banner_markdown(str(exc))}
            yield ChatStep(session_id, chat, turns, problem=str(exc))
        except Exception:
            log.exception("answering failed")
            chat[-1] = {"role": "assistant", "content": ERROR_TEXT}
            yield ChatStep(session_id, chat, turns)
        finally:
            if not finished:  # the page went away mid-stream: the answer exists already, keep it
                try:
                    for item in stream:
                        if isinstance(item, Answer):
                            self._finish(session_id, question, item, chat, turns)
                except Exception:
                    pass

    def _finish(self, session_id: str, question: str, answer: Answer, chat: list[dict], turns: list[dict]) -> None:
        """Store the final answer and put it, rendered, in place of the streamed text."""
        notices = answer_notices(answer)
        sources = [_plain_source(s) for s in answer.sources]
        answer_id = self.store.append_message(session_id, "assistant", answer.text, sources=sources, backend=answer.backend,
                                              notices=notices, reply_to=turns[-2].get("message_id") if len(turns) > 1 else None,
                                              vector=answer.query_vector, meta=answer.insight_meta())
        turns[-1] = _turn("assistant", answer.text, sources=sources, backend=answer.backend,
                          question=question, message_id=answer_id)
        chat[-1] = {"role": "assistant", "content": render_message(answer.text, sources, notices)}

    # -- feedback ------------------------------------------------------------------------------
    def like(self, stored_session: Any, turns: list[dict] | None, index: Any, liked: Any) -> Rating:
        """A thumb on the message at `index`: 👍 (True/"Like"), 👎 (False/"Dislike"), or the same
        thumb again (anything else), which takes the rating back."""
        session_id = session_of(stored_session)
        turn = _stored_answer(self.store, session_id, turns, index)
        if turn is None:
            return Rating(None, "Only AQ Coach's answers can be rated.")
        if liked in (True, "Like"):
            rating = 1
        elif liked in (False, "Dislike"):
            rating = -1
        else:
            self.store.remove_feedback(session_id, turn["message_id"])
            return Rating(None, "Rating removed.")
        feedback_id = self.store.add_feedback(session_id, turn["question"], turn["content"], turn["sources"],
                                              turn["backend"], rating, message_id=turn.get("message_id"))
        thanks = "Thanks for the 👍!" if rating > 0 else "Thanks, we'll look at that answer."
        return Rating(feedback_id, f"{thanks} Add a comment below if you like.", ask_comment=True)

    def save_comment(self, stored_session: Any, feedback_id: int | None, comment: str | None) -> CommentResult:
        """A comment on the last rated answer (only the session that rated it may comment)."""
        if not isinstance(feedback_id, int) or isinstance(feedback_id, bool):  # none yet (or not one the page was given)
            return CommentResult("Rate an answer with 👍 or 👎 first, then add your comment.")
        if not (comment or "").strip():
            return CommentResult("Type a comment first.")
        self.store.set_comment(feedback_id, comment, session_id=session_of(stored_session))
        return CommentResult("Thanks, your comment was saved.", saved=True)

    # -- API endpoints ---------------------------------------------------------------------------
    def chat_api(self, question: Any) -> Iterator[str]:
        """/chat: one standalone question; the answer text as it streams."""
        yield from self.answer_text(question, [])

    def chat_with_history_api(self, question: Any, history_json: Any) -> Iterator[str]:
        """/chat_with_history: a question after the conversation in history_json (see parse_history_json)."""
        try:
            history = parse_history_json(history_json)
        except ValueError as exc:
            raise ChatError(str(exc)) from None
        yield from self.answer_text(question, history)

    def chat_session_api(self, question: Any, session_id: Any, turn_id: str = "") -> Iterator[str]:
        """/chat_session: a question in a stored session (32 hex characters), retried safely by turn_id."""
        if valid_session_id(session_id) is None:
            raise ChatError(SESSION_ID_TEXT)
        yield from self.answer_text(question, [], session_id, turn_id)

    def forget_session_api(self, session_id: Any) -> dict:
        """/forget_session: delete a stored session's conversations, messages and feedback; rows per table."""
        if valid_session_id(session_id) is None:
            raise ChatError(SESSION_ID_TEXT)
        try:
            counts = self.store.forget(session_id)
        except Exception:
            log.exception("forgetting a session failed (api)")
            raise ChatError(FORGET_FAILED_TEXT) from None
        return {"session_id": session_id, **counts, "message": forgotten_status(counts)}

    def answer_text(self, question: Any, history: list[dict], session_id: str = "", turn_id: str = "") -> Iterator[str]:
        """The answer text for the API endpoints, growing as it streams; the last value is the whole
        answer (the guard's replacement, when it replaced the stream). With a session id the turn
        is stored in that session (SessionChat). Problems raise ChatError, never a traceback."""
        from .answering import AnswerDelta, EmptyQuestion, with_text_so_far
        from .store import StoreError

        if not isinstance(question, str) or not question.strip():
            raise ChatError(API_BLANK_TEXT)
        problem = self.problem()
        if problem or self.service is None:
            raise ChatError(problem or NO_INDEX_TEXT)
        try:
            if session_id:
                from .sessions import SessionChat

                yield from SessionChat(self.service, self.store).turn(session_id, question, turn_id)
                return
            for streamed, item in with_text_so_far(self.service.stream(question, history)):
                if isinstance(item, AnswerDelta):
                    if not item.buffered:  # an answer written at once goes out at once: one event, not one per sentence
                        yield streamed
                else:
                    yield item.text.strip()
        except EmptyQuestion:
            raise ChatError(API_BLANK_TEXT) from None
        except (StoreError, ValueError) as exc:
            raise ChatError(str(exc)) from None
        except Exception:
            log.exception("answering failed (api)")
            raise ChatError(ERROR_TEXT) from None


def _user(chat: list[dict], turns: list[dict], question: str, message_id: int | None = None) -> None:
    chat.append({"role": "user", "content": escape_user_text(question)})
    turns.append(_turn("user", question, message_id=message_id))


def _forgotten(store: ConversationStore, session_id: str, turns: list[dict]) -> bool:
    """Does the page show a stored message the open conversation no longer has (forgotten, or closed)?"""
    shown = {t.get("message_id") for t in turns if isinstance(t.get("message_id"), int)}
    return bool(shown) and not shown <= {m["id"] for m in store.messages(session_id)}


def _note(chat: list[dict], turns: list[dict], text: str) -> None:
    """A message from the app itself (not an answer: it cannot be rated)."""
    chat.append({"role": "assistant", "content": text})
    turns.append(_turn("assistant", text, note=True))
