"""The athletes' web chat: a thin Gradio adapter over AnsweringService.

The UI receives its collaborators (the answering service, the FeedbackStore and the glossary) and
only translates between them and Gradio, in the style of smolagents' gradio_ui.py:

* answers stream in (a generator over `service.stream`), with their sources folded underneath
  and a short notice when the doctrine guard replaced an answer;
* history belongs to the browser: a random session id lives in the browser's localStorage
  (gr.BrowserState), every message is kept in SQLite under it, and a returning browser gets its
  own conversation back. Nothing is held in module globals, so sessions never see each other;
* thumbs up/down (+ an optional comment) are stored with the question, answer, sources, backend;
* `/chat` is a named API endpoint: `Client(url).predict("question", api_name="/chat")`, and
  `/chat_with_history` takes the conversation too: `predict("question", history_json, api_name=…)`;
* an empty or half-built index shows a banner with the command that fixes it, and a failing
  service shows a friendly sentence, never a traceback.

The pure helpers (format_sources, glossary_markdown, guard_notice, escape_user_text,
render_answer) need no browser and are unit-tested directly.

(No `from __future__ import annotations` here: Gradio reads the event handlers' type hints, such as
gr.LikeData, at run time.)
"""

import html
import json
import logging
import re
import socket
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .config import Settings, apply_offline_hygiene

if TYPE_CHECKING:  # imported lazily at run time: gradio is slow to import
    import gradio as gr

    from .answering import Answer, AnsweringService
    from .corpus import Glossary
    from .feedback import FeedbackStore

log = logging.getLogger(__name__)

TITLE = "AQ Coach"
SUBTITLE = (
    "Ask about your sprinting. Every answer is grounded in AQ's speed-training articles, "
    "in AQ's own terms, with the passages it used."
)
EXAMPLES = [
    "What is contributor timing?",
    "Why does my sprinting feel off even when I try to be more coordinated?",
    "What is the swing side?",
    "Does coordination make you faster?",
]
BLANK_TEXT = "Type a question about your sprinting first, for example: *What is contributor timing?*"
API_BLANK_TEXT = "The question is empty; ask something about sprinting."
HISTORY_SHAPE = 'history_json must be a JSON list of {"role": "user" or "assistant", "content": "..."} messages, oldest first'
ERROR_TEXT = "Sorry, something went wrong while answering. Please try again in a moment."
INGEST_HINT = "aq-coach ingest"
STORAGE_KEY = "aq_coach_session"
_SESSION_RE = re.compile(r"^[0-9a-f]{32}$")
_NOTICE_ACTIONS = ("replaced", "fallback")
_GUARD_DEFAULT = "This answer was composed directly from AQ's articles because the model's answer could not be used."

CSS = """
#aq-header h1 { margin-bottom: 0.1em; }
#aq-header p { margin-top: 0; opacity: 0.8; }
#aq-banner { border: 1px solid #e0a800; background: #fff8e1; color: #5d4300; border-radius: 8px; padding: 0.4em 0.9em; }
#aq-banner code { background: #fff0c2; color: #5d4300; }
.aq-sources { margin-top: 0.6em; font-size: 0.92em; }
.aq-sources summary { cursor: pointer; font-weight: 600; }
.aq-sources ol { margin: 0.4em 0 0 1.2em; padding: 0; }
.aq-sources li { margin-bottom: 0.5em; }
.aq-notice { font-size: 0.92em; }
#aq-glossary { max-height: 70vh; overflow-y: auto; }
"""


# --- pure helpers ------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def escape_html(text: str) -> str:
    """`<`, `>`, `&` and quotes as entities, so HTML in the text is shown, never interpreted."""
    return html.escape(str(text or ""), quote=True)


def escape_user_text(text: str) -> str:
    """An athlete's message as Chatbot Markdown that displays exactly the characters typed.

    Markdown punctuation gets a backslash and HTML characters become entities, so
    `<script>alert(1)</script>` shows literally and is never parsed as a tag (Gradio's sanitizer
    would otherwise silently drop it), and `*this*` does not turn into italics.
    """
    text = str(text or "").replace("\r\n", "\n")
    return escape_html(_MD_SPECIAL.sub(r"\\\1", text))


def _field(source: Any, name: str) -> str:
    value = source.get(name, "") if isinstance(source, dict) else getattr(source, name, "")
    return str(value or "").strip()


def sources_html(sources: Iterable[Any], open_: bool = False) -> str:
    """Sources (Source objects or their dicts) as a folded <details> list: section, article, excerpt."""
    sources = list(sources or [])
    if not sources:
        return ""
    items = []
    for src in sources:
        section, title = _field(src, "section"), _field(src, "title")
        question, excerpt = _field(src, "question"), _field(src, "excerpt")
        head = f"<strong>{escape_html(section or title or 'AQ article')}</strong>"
        if title and title != section:
            head += f" · <em>{escape_html(title)}</em>"
        lines = [head]
        if question:
            lines.append(f"<em>Q: {escape_html(question)}</em>")
        if excerpt:
            lines.append(escape_html(excerpt))
        items.append("<li>" + "<br>".join(lines) + "</li>")
    label = "source" if len(sources) == 1 else "sources"
    return (
        f'<details class="aq-sources"{" open" if open_ else ""}><summary>📚 {len(sources)} {label} from AQ\'s articles</summary>'
        f"<ol>{''.join(items)}</ol></details>"
    )


def format_sources(answer: "Answer") -> str:
    """The answer's sources, each with its section title and excerpt, folded inside <details>."""
    return sources_html(getattr(answer, "sources", None) or [])


def guard_notice(answer: "Answer") -> str | None:
    """A short notice when the doctrine guard replaced the answer (or the LLM was unreachable)."""
    guard = getattr(answer, "guard", None)
    if guard is None or getattr(guard, "action", "") not in _NOTICE_ACTIONS:
        return None
    return f"⚠️ {(getattr(guard, 'notice', '') or _GUARD_DEFAULT).strip()}"


def _notices_markdown(notices: Iterable[str]) -> str:
    return "\n\n".join(f'<span class="aq-notice">{escape_html(n)}</span>' for n in notices if n)


def render_message(text: str, sources: Iterable[Any] = (), notices: Iterable[str] = ()) -> str:
    """An assistant message for the Chatbot: the answer (Markdown, HTML escaped), notices, sources."""
    parts = [escape_html(text).strip()]
    notes = _notices_markdown(notices)
    if notes:
        parts.append(notes)
    folded = sources_html(sources)
    if folded:
        parts.append(folded)
    return "\n\n".join(p for p in parts if p)


def answer_notices(answer: "Answer") -> list[str]:
    """The guard notice first, then the service's other notices (a shortened question …), deduplicated."""
    out: list[str] = []
    first = guard_notice(answer)
    guard_text = getattr(getattr(answer, "guard", None), "notice", "") or ""
    if first:
        out.append(first)
    for note in getattr(answer, "notices", None) or []:
        if note and note != guard_text and f"⚠️ {note}" not in out:
            out.append(f"ℹ️ {note}")
    return out


def render_answer(answer: "Answer") -> str:
    return render_message(answer.text, answer.sources, answer_notices(answer))


def glossary_markdown(glossary: "Glossary") -> str:
    """The AQ glossary as Markdown: each term, its definition, everyday words and related terms."""
    terms = sorted(glossary or [], key=lambda t: t.term.lower())
    if not terms:
        return "*The AQ glossary is not loaded.*"
    blocks = []
    for t in terms:
        block = f"**{escape_html(t.term)}**: {escape_html(t.definition)}"
        if t.everyday:
            block += f"  \n<small>Athletes say: {escape_html(', '.join(t.everyday))}</small>"
        if t.related:
            block += f"  \n<small>Related: {escape_html(', '.join(t.related))}</small>"
        blocks.append(block)
    return "\n\n".join(blocks)


def banner_markdown(problem: str | None) -> str:
    """The index banner: the problem, with the command that fixes it as code."""
    if not problem:
        return ""
    text = escape_html(problem.replace("`", ""))
    for command in ("aq-coach ingest --rebuild", INGEST_HINT):
        if command in text:
            text = text.replace(command, f"`{command}`", 1)
            break
    else:
        text += f" Build it with: `{INGEST_HINT}`"
    return f"⚠️ **AQ Coach can't answer yet.** {text}"


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
    if not isinstance(data, list):
        raise ValueError(HISTORY_SHAPE)
    history = []
    for n, message in enumerate(data):
        if (not isinstance(message, dict) or message.get("role") not in ("user", "assistant")
                or not isinstance(message.get("content"), str)):
            raise ValueError(f"{HISTORY_SHAPE} (message {n} is not)")
        history.append({"role": message["role"], "content": message["content"]})
    return history


def new_session_id() -> str:
    return uuid.uuid4().hex


def valid_session_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _SESSION_RE.match(value) else None


def index_problem(service: "AnsweringService | None", startup_problem: str | None = None) -> str | None:
    """Why the index cannot answer, or None when it can."""
    if startup_problem:
        return startup_problem
    if service is None:
        return "The AQ index is not available. Build it with: aq-coach ingest"
    from .store import StoreError

    try:
        return service.searcher.status().problem()
    except StoreError as exc:
        return str(exc)
    except Exception:  # never let a status check take the page down
        log.exception("index status check failed")
        return "The AQ index cannot be read. Rebuild it with: aq-coach ingest --rebuild"


# --- conversation records -----------------------------------------------------------------------
# The Chatbot shows escaped/rendered Markdown; the raw text, sources and backend of each message
# are kept beside it in a per-tab gr.State ("turns"), one record per Chatbot message.

def _turn(role: str, content: str, *, sources=None, backend=None, question="", message_id=None, note=False) -> dict:
    return {"role": role, "content": content, "sources": sources or [], "backend": backend,
            "question": question, "message_id": message_id, "note": note}


def _restore(store: "FeedbackStore", session_id: str) -> tuple[list[dict], list[dict]]:
    """The open conversation of a session as (chatbot messages, turns)."""
    chat, turns = [], []
    question = ""
    for m in store.messages(session_id):
        if m["role"] == "user":
            question = m["content"]
            chat.append({"role": "user", "content": escape_user_text(m["content"])})
            turns.append(_turn("user", m["content"], message_id=m["id"]))
        else:
            chat.append({"role": "assistant", "content": render_message(m["content"], m["sources"], m.get("notices") or [])})
            turns.append(_turn("assistant", m["content"], sources=m["sources"], backend=m["backend"],
                               question=question, message_id=m["id"]))
    return chat, turns


# --- the app -----------------------------------------------------------------------------------

def build_app(service: "AnsweringService | None", store: "FeedbackStore", glossary: "Glossary",
              settings: Settings, *, startup_problem: str | None = None) -> "gr.Blocks":
    """The Gradio Blocks app over an answering service (None with startup_problem: banner only)."""
    apply_offline_hygiene()
    import gradio as gr

    from .answering import Answer, AnswerDelta, EmptyQuestion
    from .store import StoreError

    def session_of(value: Any) -> str:
        return valid_session_id(value) or new_session_id()

    def banner_update(problem: str | None):
        return gr.update(value=banner_markdown(problem), visible=bool(problem))

    # -- events ------------------------------------------------------------------------------
    def on_load(stored_session):
        session_id = session_of(stored_session)
        chat, turns = _restore(store, session_id)
        ratings = store.ratings(session_id)
        thumbs = [{1: "Like", -1: "Dislike"}.get(ratings.get(t["message_id"])) for t in turns if t["role"] == "assistant"]
        return (session_id, gr.update(value=chat, feedback_value=thumbs), turns,
                banner_update(index_problem(service, startup_problem)))

    def respond(message, stored_session, chat, turns):
        """Stream one answer into the chat. Yields (textbox, session, chatbot, turns, banner)."""
        session_id = session_of(stored_session)
        chat, turns = list(chat or []), list(turns or [])
        if len(turns) != len(chat):  # out of step (should not happen): rebuild from the database
            chat, turns = _restore(store, session_id)
        question = message if isinstance(message, str) else ""
        keep = gr.update()

        def note(text: str):
            chat.append({"role": "assistant", "content": text})
            turns.append(_turn("assistant", text, note=True))

        if not question.strip():
            note(BLANK_TEXT)
            yield "", session_id, chat, turns, keep
            return
        problem = index_problem(service, startup_problem)
        if problem or service is None:
            chat.append({"role": "user", "content": escape_user_text(question)})
            turns.append(_turn("user", question))
            note(banner_markdown(problem or "The AQ index is not available."))
            yield "", session_id, chat, turns, banner_update(problem)
            return

        # The question is kept at once (a reload while answering still shows it); the answer when done.
        history = store.history(session_id)
        user_id = store.append_message(session_id, "user", question)
        chat.append({"role": "user", "content": escape_user_text(question)})
        turns.append(_turn("user", question, message_id=user_id))
        chat.append({"role": "assistant", "content": "…"})
        turns.append(_turn("assistant", "", question=question, note=True))
        yield gr.update(value="", interactive=False), session_id, chat, turns, keep

        def finish(answer) -> None:
            notices = answer_notices(answer)
            sources = [_plain_source(s) for s in answer.sources]
            answer_id = store.append_message(session_id, "assistant", answer.text, sources=sources,
                                             backend=answer.backend, notices=notices)
            turns[-1] = _turn("assistant", answer.text, sources=sources, backend=answer.backend,
                              question=question, message_id=answer_id)
            chat[-1] = {"role": "assistant", "content": render_message(answer.text, sources, notices)}

        stream: Iterator = iter(())
        streamed, finished = "", False
        try:
            stream = service.stream(question, history)
            for item in stream:
                if isinstance(item, AnswerDelta):
                    streamed += item.text
                    chat[-1] = {"role": "assistant", "content": escape_html(streamed)}
                    yield gr.update(), session_id, chat, turns, keep  # no pacing: the slot is freed as soon as the answer is done
                elif isinstance(item, Answer):
                    finish(item)
                    finished = True
                    yield gr.update(), session_id, chat, turns, keep
        except EmptyQuestion:
            chat[-1] = {"role": "assistant", "content": BLANK_TEXT}
            yield gr.update(), session_id, chat, turns, keep
        except StoreError as exc:
            chat[-1] = {"role": "assistant", "content": banner_markdown(str(exc))}
            yield gr.update(), session_id, chat, turns, banner_update(str(exc))
        except Exception:
            log.exception("answering failed")
            chat[-1] = {"role": "assistant", "content": ERROR_TEXT}
            yield gr.update(), session_id, chat, turns, keep
        finally:
            if not finished:  # the page went away mid-stream: the answer exists already, keep it
                try:
                    for item in stream:
                        if isinstance(item, Answer):
                            finish(item)
                except Exception:
                    pass

    def ask_example(evt: gr.SelectData):
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value or "")

    def new_chat(stored_session):
        session_id = session_of(stored_session)
        store.clear(session_id)
        return session_id, gr.update(value=[], feedback_value=[]), [], None, gr.update(visible=False), "", ""

    def on_like(stored_session, turns, evt: gr.LikeData):
        session_id = session_of(stored_session)
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        turns = turns or []
        turn = turns[index] if isinstance(index, int) and 0 <= index < len(turns) else None
        if turn is None or turn["role"] != "assistant" or turn.get("note") or not turn.get("question"):
            return None, gr.update(visible=False), "Only AQ Coach's answers can be rated."
        liked = evt.liked
        if liked in (True, "Like"):
            rating = 1
        elif liked in (False, "Dislike"):
            rating = -1
        else:  # the same thumb was clicked again to take the rating back
            if turn.get("message_id") is not None:
                store.remove_feedback(session_id, turn["message_id"])
            return None, gr.update(visible=False), "Rating removed."
        feedback_id = store.add_feedback(session_id, turn["question"], turn["content"], turn["sources"],
                                         turn["backend"], rating, message_id=turn.get("message_id"))
        thanks = "Thanks for the 👍!" if rating > 0 else "Thanks, we'll look at that answer."
        return feedback_id, gr.update(visible=True), f"{thanks} Add a comment below if you like."

    def save_comment(stored_session, feedback_id, comment):
        if feedback_id is None:
            return "", gr.update(), "Rate an answer with 👍 or 👎 first, then add your comment."
        if not (comment or "").strip():
            return "", gr.update(), "Type a comment first."
        store.set_comment(feedback_id, comment, session_id=session_of(stored_session))
        return "", gr.update(visible=False), "Thanks, your comment was saved."

    def answer_text(question, history: list[dict], session_id: str = "", turn_id: str = "") -> Iterator[str]:
        """The answer text for the API endpoints, growing as it streams; the last value is the whole
        answer (the guard's replacement, when it replaced the stream). With a session id the turn
        is stored in that session (SessionChat). Problems become gr.Error messages, never tracebacks."""
        if not isinstance(question, str) or not question.strip():
            raise gr.Error(API_BLANK_TEXT, print_exception=False)
        problem = index_problem(service, startup_problem)
        if problem or service is None:
            raise gr.Error(problem or "The AQ index is not available.", print_exception=False)
        try:
            if session_id:
                from .sessions import SessionChat

                yield from SessionChat(service, store).turn(session_id, question, turn_id)
                return
            streamed = ""
            for item in service.stream(question, history):
                if isinstance(item, AnswerDelta):
                    streamed += item.text
                    yield streamed
                else:
                    yield item.text.strip()
        except EmptyQuestion:
            raise gr.Error(API_BLANK_TEXT, print_exception=False) from None
        except (StoreError, ValueError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            log.exception("answering failed (api)")
            raise gr.Error(ERROR_TEXT, print_exception=False) from None

    def chat_api(question: str) -> Iterator[str]:
        """Ask AQ Coach one standalone question; streams the answer text (no history)."""
        yield from answer_text(question, [])

    def chat_with_history_api(question: str, history_json: str) -> Iterator[str]:
        """Ask AQ Coach a question inside a conversation; returns the answer text.

        history_json: a JSON list of {"role": "user"|"assistant", "content": str} messages, oldest
        first ("" or "[]" for none).
        """
        try:
            history = parse_history_json(history_json)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        yield from answer_text(question, history)

    def chat_session_api(question: str, session_id: str, turn_id: str = "") -> Iterator[str]:
        """Ask AQ Coach a question inside a stored session; streams the answer text.

        session_id: 32 hex characters (e.g. uuid4().hex), chosen by the client; the session's
        history is kept in the database, so any replica continues it. turn_id: optional, the
        client's id for this turn; retrying a turn with it returns the stored answer.
        """
        if valid_session_id(session_id) is None:
            raise gr.Error("session_id must be 32 hex characters, e.g. uuid.uuid4().hex", print_exception=False)
        yield from answer_text(question, [], session_id, turn_id)

    # -- layout ------------------------------------------------------------------------------
    private = {"api_visibility": "private"}
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        session = gr.BrowserState("", storage_key=STORAGE_KEY, secret=store.app_secret())
        turns = gr.State([])
        last_feedback = gr.State(None)

        gr.Markdown(f"# {TITLE}\n{SUBTITLE}", elem_id="aq-header")
        problem = index_problem(service, startup_problem)
        banner = gr.Markdown(banner_markdown(problem), visible=bool(problem), elem_id="aq-banner")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                chatbot = gr.Chatbot(
                    label=TITLE, elem_id="aq-chat", height=560, layout="bubble",
                    placeholder="**Welcome!** New to AQ? Try one of these questions, or ask your own.",
                    examples=[{"text": q} for q in EXAMPLES],
                    feedback_options=("Like", "Dislike"), buttons=["copy"],
                    latex_delimiters=[], sanitize_html=True, group_consecutive_messages=False,
                )
                with gr.Row():
                    textbox = gr.Textbox(placeholder="Ask about your sprinting…", show_label=False, lines=1,
                                         max_lines=6, scale=6, elem_id="aq-input", autofocus=True)
                    send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="aq-send")
                with gr.Row():
                    new = gr.Button("New chat", size="sm", elem_id="aq-new-chat")
                feedback_status = gr.Markdown(elem_id="aq-feedback-status")
                with gr.Group(visible=False, elem_id="aq-comment") as comment_box:
                    comment = gr.Textbox(label="Anything to add about that answer? (optional)", lines=2, max_lines=6,
                                         elem_id="aq-comment-text")
                    comment_send = gr.Button("Send comment", size="sm", elem_id="aq-comment-send")
            with gr.Column(scale=1, min_width=260):
                with gr.Accordion("📖 AQ glossary", open=True, elem_id="aq-glossary-panel"):
                    gr.Markdown(glossary_markdown(glossary), elem_id="aq-glossary")

        # -- wiring: every UI event is private; the only public endpoint is /chat -------------
        def unlock():
            return gr.update(interactive=True)

        # UI and API answers share one concurrency group, sized by the backend (answer_concurrency).
        answering = {**private, "concurrency_id": "aq-answer", "concurrency_limit": answer_concurrency(settings)}
        chat_inputs = [textbox, session, chatbot, turns]
        chat_outputs = [textbox, session, chatbot, turns, banner]
        reset_outputs = [session, chatbot, turns, last_feedback, comment_box, comment, feedback_status]
        comment_io = ([session, last_feedback, comment], [comment, comment_box, feedback_status])

        demo.load(on_load, [session], [session, chatbot, turns, banner], **private)
        # The input is locked while an answer streams, and unlocked afterwards whatever happened.
        for trigger in (textbox.submit, send.click):
            trigger(respond, chat_inputs, chat_outputs, **answering).then(unlock, None, [textbox], **private)
        chatbot.example_select(ask_example, None, [textbox], **private).then(
            respond, chat_inputs, chat_outputs, **answering).then(unlock, None, [textbox], **private)
        new.click(new_chat, [session], reset_outputs, **private)
        chatbot.clear(new_chat, [session], reset_outputs, **private)  # the chat's own trash button
        chatbot.like(on_like, [session, turns], [last_feedback, comment_box, feedback_status], **private)
        comment_send.click(save_comment, *comment_io, **private)
        comment.submit(save_comment, *comment_io, **private)
        gr.api(chat_api, api_name="chat", api_description="Ask AQ Coach one question; returns the answer text.",
               concurrency_id="aq-answer", concurrency_limit=answering["concurrency_limit"])
        gr.api(chat_with_history_api, api_name="chat_with_history", concurrency_id="aq-answer",
               concurrency_limit=answering["concurrency_limit"],
               api_description='Ask AQ Coach a follow-up: history_json is a JSON list of {"role", "content"} messages, '
                               'oldest first ("" or "[]" for none); returns the answer text.')
        gr.api(chat_session_api, api_name="chat_session", concurrency_id="aq-answer",
               concurrency_limit=answering["concurrency_limit"],
               api_description="Ask AQ Coach a question in a stored session (session_id: 32 hex characters); "
                               "any replica continues it. turn_id (optional) makes a retried turn safe.")
    return demo


def _plain_source(source: Any) -> dict:
    if isinstance(source, dict):
        return dict(source)
    return {k: getattr(source, k, "") for k in ("id", "title", "section", "excerpt", "score", "question")}


# --- serving -----------------------------------------------------------------------------------

def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """'user:password' → (user, password); None or '' → None."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("AQ_AUTH must look like 'user:password'")
    return user, password


def make_theme():
    """Gradio's default theme with its bundled Source Sans Pro, using the complete Regular and Bold
    files (the bundled SemiBold file is a small subset that lacks glyphs such as "A")."""
    import gradio as gr

    return gr.themes.Default(
        font=(gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)), "ui-sans-serif", "system-ui", "sans-serif"),
    )


def answer_concurrency(settings: Settings) -> int:
    """How many answers run at once: the composer's limit, one per llama.cpp context, or the
    remote endpoint's own capacity."""
    if settings.backend == "composer":
        return settings.answer_concurrency
    return 1 if settings.backend == "llamacpp" else settings.llm_concurrency


def serve(demo: "gr.Blocks", settings: Settings, *, block: bool = True):
    """Launch a built app on settings.host:settings.port (loopback by default), no share link, quiet."""
    demo.queue(default_concurrency_limit=1)
    return demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=parse_auth(settings.auth),
        share=False,
        quiet=True,
        show_error=False,
        prevent_thread_lock=not block,
        footer_links=["api"],
        run_history=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        enable_monitoring=False,
        css=CSS,
        theme=make_theme(),
    )


def create_app(settings: Settings) -> "gr.Blocks":
    """The real app: AnsweringService.from_settings, the FeedbackStore on settings.app_database_url, the glossary."""
    from .feedback import FeedbackStore
    from .indexing import glossary_for
    from .store import StoreError

    apply_offline_hygiene()
    glossary = glossary_for(settings)
    store = FeedbackStore(settings.app_database_url, served_by=settings.replica_name or f"{socket.gethostname()}:{settings.port}")
    try:
        from .answering import AnsweringService

        service = AnsweringService.from_settings(settings)
        service.warm()
    except StoreError as exc:  # the page still opens and says what to run
        return build_app(None, store, glossary, settings, startup_problem=str(exc))
    return build_app(service, store, glossary, settings)


def launch(settings: Settings, *, block: bool = True):
    """Serve the athletes' chat (called by `aq-coach serve`)."""
    parse_auth(settings.auth)  # a malformed AQ_AUTH fails before the slow start
    return serve(create_app(settings), settings, block=block)
