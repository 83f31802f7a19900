"""The athletes' web chat: a small Gradio layout over the chat controller (assistant.chat).

The UI receives its collaborators (the answering service, the ConversationStore and the glossary) and
hands them to a `ChatController`, which answers every event with plain state and never imports
Gradio. This module only lays out the page and wires each event to a thin adapter that turns the
controller's state into Gradio updates, in the style of smolagents' gradio_ui.py:

* answers stream in (a generator over `service.stream`), with their sources folded underneath
  and a short notice when the doctrine guard replaced an answer;
* history belongs to the browser: a random session id lives in the browser's localStorage
  (gr.BrowserState), every message is kept in the app database under it, and a returning browser
  gets its own conversation back. Nothing is held in module globals, so sessions never see each other;
* thumbs up/down (+ an optional comment) are stored with the question, answer, sources, backend;
* `/chat` is a named API endpoint: `Client(url).predict("question", api_name="/chat")`,
  `/chat_with_history` takes the conversation too: `predict("question", history_json, api_name=…)`,
  `/chat_session` continues a conversation stored under a client's session id, and
  `/forget_session` deletes such a session's conversations, messages and feedback;
* "Forget this chat" deletes everything the browser's session has stored (assistant.retention), empties
  the chat and gives the browser a fresh session id; a line under the chat says what is stored;
* an empty or half-built index shows a banner with the command that fixes it, and a failing
  service shows a friendly sentence, never a traceback.

The controller lives in assistant.chat and what it shows (format_sources, glossary_markdown,
guard_notice, escape_user_text, render_answer …) in assistant.chat_render; import them from there.

(No `from __future__ import annotations` here: Gradio reads the event handlers' type hints, such as
gr.LikeData, at run time.)
"""

import collections
import gc
import inspect
import os
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING

from .chat import ChatController, ChatError
from .chat_render import banner_markdown, storage_notice
from .config import Settings, apply_offline_hygiene
from .maintainers import admin_login, maintainer_app

if TYPE_CHECKING:  # imported lazily at run time: gradio is slow to import
    import gradio as gr

    from .answering import AnsweringService
    from .conversations import ConversationStore
    from .corpus import Glossary

__all__ = ["STORAGE_KEY", "TITLE", "answer_concurrency", "build_app", "create_app", "launch", "make_theme", "parse_auth",
           "serve"]

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
STORAGE_KEY = "aq_coach_session"

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


# --- the app: layout, wiring, adapters ---------------------------------------------------------

def build_app(service: "AnsweringService | None", store: "ConversationStore", glossary: "Glossary",
              settings: Settings, *, startup_problem: str | None = None) -> "gr.Blocks":
    """The Gradio Blocks app over an answering service (None with startup_problem: banner only)."""
    apply_offline_hygiene()
    import gradio as gr

    controller = ChatController(service, store, glossary, startup_problem=startup_problem)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        view = _layout(gr, controller, settings.history_retention_days)
        _wire(gr, demo, view, controller, answer_concurrency(settings))
    return demo


def _layout(gr, controller: ChatController, retention_days: float | None = None) -> SimpleNamespace:
    """The page's components (inside the open Blocks): header, banner, chat, input, feedback, glossary."""
    view = SimpleNamespace()
    view.session = gr.BrowserState("", storage_key=STORAGE_KEY, secret=controller.store.app_secret())
    # Kept in the page, not in gr.State: any gr.State makes Gradio ask every client, the API's
    # included, to hold a heartbeat stream open, which cost the 50-session API load ~6% of its
    # answers/s. The controller checks what comes back against the database before it is stored.
    view.turns = gr.JSON([], visible=False)
    view.last_feedback = gr.Number(None, precision=0, visible=False)

    gr.Markdown(f"# {TITLE}\n{SUBTITLE}", elem_id="aq-header")
    problem = controller.problem()
    view.banner = gr.Markdown(banner_markdown(problem), visible=bool(problem), elem_id="aq-banner")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            view.chatbot = gr.Chatbot(
                label=TITLE, elem_id="aq-chat", height=560, layout="bubble",
                placeholder="**Welcome!** New to AQ? Try one of these questions, or ask your own.",
                examples=[{"text": q} for q in EXAMPLES],
                feedback_options=("Like", "Dislike"), buttons=["copy"],
                latex_delimiters=[], sanitize_html=True, group_consecutive_messages=False,
            )
            with gr.Row():
                view.textbox = gr.Textbox(placeholder="Ask about your sprinting…", show_label=False, lines=1,
                                          max_lines=6, scale=6, elem_id="aq-input", autofocus=True)
                view.send = gr.Button("Send", variant="primary", scale=1, min_width=80, elem_id="aq-send")
            with gr.Row():
                view.new = gr.Button("New chat", size="sm", elem_id="aq-new-chat")
                view.forget = gr.Button("Forget this chat", size="sm", elem_id="aq-forget")
            gr.Markdown(storage_notice(retention_days), elem_id="aq-storage-notice")
            view.feedback_status = gr.Markdown(elem_id="aq-feedback-status")
            with gr.Group(visible=False, elem_id="aq-comment") as view.comment_box:
                view.comment = gr.Textbox(label="Anything to add about that answer? (optional)", lines=2,
                                          max_lines=6, elem_id="aq-comment-text")
                view.comment_send = gr.Button("Send comment", size="sm", elem_id="aq-comment-send")
        with gr.Column(scale=1, min_width=260):
            with gr.Accordion("📖 AQ glossary", open=True, elem_id="aq-glossary-panel"):
                gr.Markdown(controller.glossary_text(), elem_id="aq-glossary")
    return view


def _wire(gr, demo: "gr.Blocks", view: SimpleNamespace, controller: ChatController, limit: int) -> None:
    """Every UI event is private; the public endpoints are /chat, /chat_with_history, /chat_session and
    /forget_session.

    UI and API answers share one concurrency group ("aq-answer"), sized by the backend (limit)."""
    on = _ui_events(gr, controller)
    private = {"api_visibility": "private"}
    answering = {**private, "concurrency_id": "aq-answer", "concurrency_limit": limit}
    chat_inputs = [view.textbox, view.session, view.chatbot, view.turns]
    chat_outputs = [view.textbox, view.session, view.chatbot, view.turns, view.banner]
    reset_outputs = [view.session, view.chatbot, view.turns, view.last_feedback, view.comment_box, view.comment,
                     view.feedback_status]
    comment_io = ([view.session, view.last_feedback, view.comment], [view.comment, view.comment_box, view.feedback_status])

    demo.load(on.load, [view.session], [view.session, view.chatbot, view.turns, view.banner], **private)
    # The input is locked while an answer streams, and unlocked afterwards whatever happened.
    answers = []
    for trigger in (view.textbox.submit, view.send.click):
        answers.append(trigger(on.respond, chat_inputs, chat_outputs, **answering))
        answers[-1].then(on.unlock, None, [view.textbox], **private)
    answers.append(view.chatbot.example_select(on.ask_example, None, [view.textbox], **private).then(
        on.respond, chat_inputs, chat_outputs, **answering))
    answers[-1].then(on.unlock, None, [view.textbox], **private)
    view.new.click(on.new_chat, [view.session], reset_outputs, **private)
    # Forgetting stops an answer being written into the chat (it is not stored: its question is gone).
    view.forget.click(on.forget, [view.session], [*reset_outputs, view.textbox], cancels=answers, **private)
    view.chatbot.clear(on.new_chat, [view.session], reset_outputs, **private)  # the chat's own trash button
    view.chatbot.like(on.like, [view.session, view.turns], [view.last_feedback, view.comment_box, view.feedback_status],
                      **private)
    view.comment_send.click(on.save_comment, *comment_io, **private)
    view.comment.submit(on.save_comment, *comment_io, **private)
    _api_endpoints(gr, controller, limit)


def _ui_events(gr, controller: ChatController) -> SimpleNamespace:
    """The page's event handlers: Gradio's inputs to the controller, its plain state out as updates."""

    def banner(problem):
        return gr.update(value=banner_markdown(problem), visible=bool(problem))

    def chatbot(view):
        return gr.update(value=view.chat, feedback_value=view.thumbs)

    def load(stored_session):
        view = controller.load(stored_session)
        return view.session_id, chatbot(view), view.turns, banner(view.problem)

    def respond(message, stored_session, chat, turns):
        """Stream one answer into the chat. Yields (textbox, session, chatbot, turns, banner)."""
        steps = controller.respond(message, stored_session, chat, turns)
        try:
            for step in steps:
                if step.lock_input:
                    textbox = gr.update(value="", interactive=False)
                else:
                    textbox = "" if step.clear_input else gr.update()
                yield (textbox, step.session_id, step.chat, step.turns,
                       banner(step.problem) if step.problem else gr.update())
        finally:
            steps.close()  # the page went away mid-stream: the controller still keeps the answer

    def ask_example(evt: gr.SelectData):
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value or "")

    def new_chat(stored_session):
        view = controller.new_chat(stored_session)
        return view.session_id, chatbot(view), view.turns, None, gr.update(visible=False), "", ""

    def forget(stored_session):
        done = controller.forget(stored_session)
        if done.counts is None:  # it failed: the chat stays as it is, with the line saying so
            return (*(gr.update() for _ in range(6)), done.status, gr.update())
        empty = gr.update(value=[], feedback_value=[])
        return done.session_id, empty, [], None, gr.update(visible=False), "", done.status, gr.update(interactive=True)

    def like(stored_session, turns, evt: gr.LikeData):
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        rated = controller.like(stored_session, turns, index, evt.liked)
        return rated.feedback_id, gr.update(visible=rated.ask_comment), rated.status

    def save_comment(stored_session, feedback_id, comment):
        result = controller.save_comment(stored_session, feedback_id, comment)
        return "", gr.update(visible=False) if result.saved else gr.update(), result.status

    def unlock():
        return gr.update(interactive=True)

    return SimpleNamespace(load=load, respond=respond, ask_example=ask_example, new_chat=new_chat, forget=forget,
                           like=like, save_comment=save_comment, unlock=unlock)


def _api_endpoints(gr, controller: ChatController, limit: int) -> None:
    """The named API endpoints, in the answering concurrency group; a ChatError becomes a gr.Error."""

    def errors_as_gr(answers: Iterator[str]) -> Iterator[str]:
        try:
            yield from answers
        except ChatError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def chat_api(question: str) -> Iterator[str]:
        """Ask AQ Coach one standalone question; streams the answer text (no history)."""
        yield from errors_as_gr(controller.chat_api(question))

    def chat_with_history_api(question: str, history_json: str) -> Iterator[str]:
        """Ask AQ Coach a question inside a conversation; returns the answer text.

        history_json: a JSON list of {"role": "user"|"assistant", "content": str} messages, oldest
        first ("" or "[]" for none).
        """
        yield from errors_as_gr(controller.chat_with_history_api(question, history_json))

    def chat_session_api(question: str, session_id: str, turn_id: str = "") -> Iterator[str]:
        """Ask AQ Coach a question inside a stored session; streams the answer text.

        session_id: 32 hex characters (e.g. uuid4().hex), chosen by the client; the session's
        history is kept in the database, so any replica continues it. turn_id: optional, the
        client's id for this turn; retrying a turn with it returns the stored answer.
        """
        yield from errors_as_gr(controller.chat_session_api(question, session_id, turn_id))

    def forget_session_api(session_id: str) -> dict:
        """Delete everything stored under a session: its conversations, messages and feedback.

        session_id: 32 hex characters, as given to /chat_session. Returns the rows deleted per table
        (conversations, messages, feedback; all 0 for a session never stored) and a one-line message.
        Every replica sees the deletion at once.
        """
        try:
            return controller.forget_session_api(session_id)
        except ChatError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    if not controller.answers_stream():
        # Written whole at once (the composer): one value, from a plain function, costs Gradio less than a generator.
        chat_api, chat_with_history_api, chat_session_api = map(_whole, (chat_api, chat_with_history_api, chat_session_api))
    answering = {"concurrency_id": "aq-answer", "concurrency_limit": limit}
    gr.api(chat_api, api_name="chat", api_description="Ask AQ Coach one question; returns the answer text.",
           **answering)
    gr.api(chat_with_history_api, api_name="chat_with_history", **answering,
           api_description='Ask AQ Coach a follow-up: history_json is a JSON list of {"role", "content"} messages, '
                           'oldest first ("" or "[]" for none); returns the answer text.')
    gr.api(chat_session_api, api_name="chat_session", **answering,
           api_description="Ask AQ Coach a question in a stored session (session_id: 32 hex characters); "
                           "any replica continues it. turn_id (optional) makes a retried turn safe.")
    gr.api(forget_session_api, api_name="forget_session",
           api_description="Forget a stored session (session_id: 32 hex characters): its conversations, messages and "
                           "feedback are deleted on every replica; returns the rows deleted per table.")


def _whole(endpoint):
    """The endpoint's last value, returned once: same name, docstring and parameters for the API page."""
    def whole(*args, **kwargs) -> str:
        last = collections.deque(endpoint(*args, **kwargs), maxlen=1)
        return last[0] if last else ""

    whole.__name__, whole.__doc__ = endpoint.__name__, endpoint.__doc__
    whole.__signature__ = inspect.signature(endpoint).replace(return_annotation=str)
    whole.__annotations__ = {**endpoint.__annotations__, "return": str}
    return whole


# --- serving -----------------------------------------------------------------------------------

def parse_auth(auth: str | None, variable: str = "AQ_AUTH") -> tuple[str, str] | None:
    """'user:password' → (user, password); None or '' → None; anything else names `variable` in a ValueError."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"{variable} must look like 'user:password'")
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
    """Launch a built app on settings.host:settings.port (loopback by default), no share link, quiet.
    With block, this process is the server until it stops."""
    if block:
        # What is loaded by now (models, index, libraries: ~600k objects in `aq-coach serve`) lives as
        # long as the server. Frozen, Python's full garbage collections stop walking it: 275 ms each, in
        # the middle of answers.
        gc.freeze()
    gc.enable()  # `aq-coach serve` starts with collection off
    # Gradio summarises every finished request into a pandas table (up to its last 10,000) for its
    # /monitoring page, which is turned off below: 1.4 ms a request, 6 ms once 10,000 are kept. Only
    # a Queue made after this reads it.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))
    demo.queue(default_concurrency_limit=1, status_update_rate=settings.queue_status_interval_s)
    return demo.launch(
        _app=maintainer_app(settings),  # the chat, and /maintainers behind its own login (AQ_ADMIN_AUTH)
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
    """The real app: AnsweringService.from_settings, the ConversationStore on settings.app_database_url, the glossary."""
    from .conversations import ConversationStore
    from .indexing import glossary_for
    from .retention import start_retention
    from .store import StoreError

    apply_offline_hygiene()
    if settings.serve_embedding_threads:  # ONNX Runtime's threads for the server's (small) encodes
        settings = settings.model_copy(update={"embedding_threads": settings.serve_embedding_threads})
    glossary = glossary_for(settings)
    if not settings.database_url:  # the default SQLite file: its folder may not exist yet (a fresh data dir)
        settings.app_db.parent.mkdir(parents=True, exist_ok=True)
    store = ConversationStore(settings.app_database_url, served_by=settings.replica_name or f"{socket.gethostname()}:{settings.port}")
    start_retention(store, settings.history_retention_days)  # AQ_HISTORY_RETENTION_DAYS: purge now, then hourly
    try:
        from .answering import AnsweringService

        service = AnsweringService.from_settings(settings)
        service.warm()
    except StoreError as exc:  # the page still opens and says what to run
        return build_app(None, store, glossary, settings, startup_problem=str(exc))
    return build_app(service, store, glossary, settings)


def launch(settings: Settings, *, block: bool = True):
    """Serve the athletes' chat (called by `aq-coach serve`)."""
    parse_auth(settings.auth)  # a malformed AQ_AUTH or AQ_ADMIN_AUTH fails before the slow start
    admin_login(settings)
    return serve(create_app(settings), settings, block=block)
