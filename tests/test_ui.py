"""The web chat end to end: a real server on 127.0.0.1, the real service, headless Debian Chromium.

The app runs the real AnsweringService (real embedded Chroma with the shipped corpus, real MiniLM,
composer backend) over a temporary SQLite. Chromium is Debian's (`apt-get install -y chromium`);
when it is missing these tests fail, they never skip.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import free_port as _free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("AQ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ANSWER_TIMEOUT_MS = 60_000


def _start(demo, settings):
    from assistant.ui import serve

    port = _free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    serve(demo, settings, block=False)
    return f"http://127.0.0.1:{port}/"


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app_server(indexed_settings, embeddings, tmp_path_factory):
    """The real app over the session's real index, with its own SQLite."""
    from assistant.answering import AnsweringService
    from assistant.conversations import ConversationStore
    from assistant.indexing import glossary_for, open_searcher
    from assistant.ui import build_app

    glossary = glossary_for(indexed_settings)
    service = AnsweringService(indexed_settings, open_searcher(indexed_settings, embeddings), glossary)
    assert service.settings.backend == "composer"
    db = tmp_path_factory.mktemp("ui") / "aq_coach.sqlite"
    store = ConversationStore(db)
    demo = build_app(service, store, glossary, indexed_settings)
    url = _start(demo, indexed_settings)
    yield SimpleNamespace(url=url, store=store, db=db)
    demo.close()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), (
        f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` (browser tests never skip)"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """One browser context (its own localStorage, so its own AQ Coach session) with one page."""

    def __init__(self, browser, url: str):
        self.url = url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.offsite: list[str] = []
        self.page.on("dialog", self._on_dialog)
        self.page.on("request", self._on_request)
        self.page.set_default_timeout(ANSWER_TIMEOUT_MS)

    def _on_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_request(self, request):
        if not request.url.startswith((self.url, "data:", "blob:")):
            self.offsite.append(request.url)

    def open(self):
        self.page.goto(self.url)
        self.page.wait_for_selector("#aq-input textarea")
        # the load event restores the session's chat; wait until the app is idle
        self.page.wait_for_function("() => !document.querySelector('.progress-text, .eta-bar')")
        self.page.wait_for_timeout(500)

    def reload(self):
        self.page.reload()
        self.page.wait_for_selector("#aq-input textarea")
        self.page.wait_for_timeout(500)

    def answers(self) -> int:
        return self.page.locator("#aq-chat .aq-sources").count()

    def ask(self, question: str, wait: bool = True):
        before = self.answers()
        self.page.fill("#aq-input textarea", question)
        self.page.press("#aq-input textarea", "Enter")
        if wait:
            self.wait_answers(before + 1)

    def wait_answers(self, n: int):
        self.page.wait_for_function(f"() => document.querySelectorAll('#aq-chat .aq-sources').length >= {n}")

    def chat_text(self) -> str:
        return self.page.inner_text("#aq-chat")

    def user_messages(self) -> list[str]:
        return [t.strip() for t in self.page.locator("#aq-chat [data-testid='user']").all_inner_texts()]

    def close(self):
        self.context.close()


@pytest.fixture
def tab_factory(browser):
    tabs = []

    def make(url):
        tab = Tab(browser, url)
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        tab.close()


def _feedback_rows(db: Path) -> list[dict]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


# --- tests -------------------------------------------------------------------------------------

def test_page_title_glossary_examples_and_no_offsite_requests(app_server, tab_factory):
    tab = tab_factory(app_server.url)
    tab.open()
    page = tab.page
    assert page.title() == "AQ Coach"
    header = page.inner_text("#aq-header")
    assert "AQ Coach" in header and "AQ's" in header and "articles" in header
    assert not page.locator("#aq-banner").is_visible()  # the index is ready: no banner
    glossary = page.inner_text("#aq-glossary")
    assert "contributor timing" in glossary and "swing side" in glossary
    assert "What is contributor timing?" in tab.chat_text()  # example questions for new athletes
    assert tab.offsite == [], f"the page loaded assets from outside the server: {tab.offsite}"


def test_answer_streams_with_folded_sources_and_thumbs_up_is_stored(app_server, tab_factory):
    tab = tab_factory(app_server.url)
    tab.open()
    page = tab.page
    # Record what the last bot message looked like while the answer streamed in.
    page.evaluate("""() => {
        window.__aqSnapshots = [];
        const chat = document.querySelector('#aq-chat');
        new MutationObserver(() => {
            const bots = chat.querySelectorAll("[data-testid='bot']");
            const last = bots[bots.length - 1];
            if (last) window.__aqSnapshots.push([last.innerText.length, !!last.querySelector('.aq-sources')]);
        }).observe(chat, {subtree: true, childList: true, characterData: true});
    }""")
    question = "What is contributor timing?"
    tab.ask(question)

    snapshots = page.evaluate("window.__aqSnapshots")
    partial = {length for length, has_sources in snapshots if not has_sources and length > 5}
    assert len(partial) >= 3, f"the answer did not stream in pieces: {snapshots[:20]}"

    last_bot = page.locator("#aq-chat [data-testid='bot']").last
    assert "contributor timing" in last_bot.inner_text().lower()
    details = last_bot.locator("details.aq-sources")
    assert details.get_attribute("open") is None  # sources are folded by default
    assert "sources from AQ" in details.locator("summary").inner_text() or "source from AQ" in details.inner_text()
    page.wait_for_function("() => !document.querySelector('#aq-input textarea').disabled")  # input unlocked
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)  # the answer, sources folded
    details.locator("summary").click()
    assert details.get_attribute("open") is not None
    items = details.locator("li")
    assert items.count() >= 1 and len(items.first.inner_text()) > 40  # section title + excerpt
    page.screenshot(path=str(ARTIFACTS / "ui-answer-sources.png"), full_page=True)

    before = len(_feedback_rows(app_server.db))
    last_bot_row = page.locator("#aq-chat button[aria-label='Like']").last
    last_bot_row.click()
    page.wait_for_selector("#aq-comment-text textarea", state="visible")
    rows = _wait_for(lambda: _feedback_rows(app_server.db)[before:])
    assert len(rows) == 1
    row = rows[0]
    assert row["rating"] == 1 and row["question"] == question
    assert "contributor timing" in row["answer"].lower() and row["backend"] == "composer"
    assert '"section"' in row["sources"] and '"excerpt"' in row["sources"]

    page.fill("#aq-comment-text textarea", "Clear, thanks coach")
    page.click("#aq-comment-send")
    assert _wait_for(lambda: _feedback_rows(app_server.db)[before]["comment"] == "Clear, thanks coach")
    exported = [r for r in app_server.store.export_feedback() if r["id"] == row["id"]][0]
    assert exported["sources"] and exported["comment"] == "Clear, thanks coach"

    tab.reload()  # the conversation and its thumb come back
    tab.wait_answers(1)
    assert tab.user_messages() == [question]
    assert page.locator("#aq-chat button[aria-label='Liked']").count() == 1
    assert tab.offsite == [] and tab.dialogs == []


def test_script_in_a_question_is_shown_literally_never_run(app_server, tab_factory):
    tab = tab_factory(app_server.url)
    tab.open()
    hostile = "<script>alert(1)</script> what is contributor timing?"
    tab.ask(hostile)
    tab.ask('<img src=x onerror="alert(2)"> is coordination the cause of speed?')
    tab.page.wait_for_timeout(500)
    assert tab.dialogs == [], f"a dialog fired: {tab.dialogs}"
    users = tab.user_messages()
    assert hostile in users  # the literal characters, as typed
    assert '<img src=x onerror="alert(2)"> is coordination the cause of speed?' in users
    assert tab.page.locator("#aq-chat script").count() == 0
    assert tab.page.locator("#aq-chat img[src='x']").count() == 0
    assert "&lt;" not in tab.chat_text() and "&gt;" not in tab.chat_text()


def test_blank_question_gets_a_friendly_message(app_server, tab_factory):
    from assistant.chat import BLANK_TEXT

    tab = tab_factory(app_server.url)
    tab.open()
    tab.page.fill("#aq-input textarea", "   ")
    tab.page.click("#aq-send")
    tab.page.wait_for_function("() => document.querySelector('#aq-chat').innerText.includes('Type a question')")
    assert "Type a question about your sprinting first" in tab.chat_text()
    assert "Traceback" not in tab.chat_text() and BLANK_TEXT.split(",")[0] in tab.chat_text()


def test_example_question_asks_itself(app_server, tab_factory):
    tab = tab_factory(app_server.url)
    tab.open()
    tab.page.click("#aq-chat button[aria-label='Select example 1: What is contributor timing?']")
    tab.wait_answers(1)
    assert tab.user_messages() == ["What is contributor timing?"]
    # the input is locked while the answer streams and unlocked again afterwards
    tab.page.wait_for_function("() => !document.querySelector('#aq-input textarea').disabled")


def test_two_browsers_keep_separate_histories_restored_on_reload(app_server, tab_factory):
    a, b = tab_factory(app_server.url), tab_factory(app_server.url)
    a.open()
    b.open()
    qa, qb = "What is the swing side?", "What is sprint-system continuity?"
    # Both athletes send at the same time.
    a.page.fill("#aq-input textarea", qa)
    b.page.fill("#aq-input textarea", qb)
    a.page.press("#aq-input textarea", "Enter")
    b.page.press("#aq-input textarea", "Enter")
    a.wait_answers(1)
    b.wait_answers(1)
    assert a.user_messages() == [qa] and b.user_messages() == [qb]

    a.ask("How does it relate to the pushing side?")
    assert a.user_messages() == [qa, "How does it relate to the pushing side?"]
    assert b.user_messages() == [qb]

    a.reload()
    a.page.wait_for_function("() => document.querySelectorAll(\"#aq-chat [data-testid='user']\").length >= 2")
    a.wait_answers(2)
    assert a.user_messages() == [qa, "How does it relate to the pushing side?"]
    assert qb not in a.chat_text()
    b.reload()
    b.wait_answers(1)
    assert b.user_messages() == [qb] and qa not in b.chat_text()

    with sqlite3.connect(app_server.db) as conn:
        owners = {s for (s,) in conn.execute("SELECT session_id FROM messages WHERE content IN (?, ?)", (qa, qb))}
    assert len(owners) == 2  # two sessions, one per browser

    # "New chat" empties the chat for good (a reload does not bring it back) but keeps the rows.
    a.page.click("#aq-new-chat")
    a.page.wait_for_function("() => document.querySelectorAll(\"#aq-chat [data-testid='user']\").length === 0")
    a.reload()
    a.page.wait_for_timeout(1000)
    assert a.user_messages() == []
    with sqlite3.connect(app_server.db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM messages WHERE content = ?", (qa,)).fetchone()[0] == 1
    a.ask("What is contributor timing?")
    assert a.user_messages() == ["What is contributor timing?"]


def test_gradio_client_chat_endpoint(app_server):
    from gradio_client import Client

    client = Client(app_server.url, verbose=False)
    answer = client.predict("What is contributor timing?", api_name="/chat")
    assert isinstance(answer, str) and "contributor timing" in answer.lower()
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/chat", "/chat_session", "/chat_with_history",
                                              "/forget_session"]  # the UI's own events are private
    with pytest.raises(Exception, match="empty"):
        client.predict("   ", api_name="/chat")
    # An API client holds no heartbeat stream open: the page keeps its own state, so the app asks for none.
    assert client.config.get("connect_heartbeat") is False and not client.heartbeat.is_alive()
    client.close()


def _session_rows(db: Path, session: str) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE session_id = ?", (session,)).fetchone()[0]
                for t in ("conversations", "messages", "feedback")}


def test_forget_this_chat_clears_the_screen_and_the_database(app_server, tab_factory):
    tab = tab_factory(app_server.url)
    tab.open()
    notice = tab.page.inner_text("#aq-storage-notice")
    assert "chats are stored" in notice and "Forget this chat" in notice   # the page says so, in one line
    question = "What does aggressive projection mean?"
    tab.ask(question)
    tab.page.locator("#aq-chat button[aria-label='Like']").last.click()
    with sqlite3.connect(app_server.db) as conn:
        [(session,)] = conn.execute("SELECT DISTINCT session_id FROM messages WHERE content = ?", (question,)).fetchall()
    assert _wait_for(lambda: _session_rows(app_server.db, session) == {"conversations": 1, "messages": 2, "feedback": 1})

    tab.page.click("#aq-forget")
    tab.page.wait_for_function("() => document.querySelector('#aq-feedback-status').innerText.includes('forgotten')")
    assert tab.page.inner_text("#aq-feedback-status").strip() == "Chat forgotten: 2 messages and 1 rating deleted for good."
    assert tab.user_messages() == [] and tab.answers() == 0
    assert _session_rows(app_server.db, session) == {"conversations": 0, "messages": 0, "feedback": 0}
    tab.reload()
    tab.page.wait_for_timeout(1000)
    assert tab.user_messages() == []                      # a reload does not bring it back
    tab.ask("What is the swing side?")                    # the athlete carries on, under a fresh session id
    with sqlite3.connect(app_server.db) as conn:
        owners = {s for (s,) in conn.execute("SELECT session_id FROM messages WHERE content = 'What is the swing side?'")}
    assert session not in owners and tab.user_messages() == ["What is the swing side?"]
    assert tab.dialogs == [] and "Traceback" not in tab.chat_text()


def test_gradio_client_forget_session_endpoint(app_server):
    import uuid

    from gradio_client import Client

    client = Client(app_server.url, verbose=False)
    session = uuid.uuid4().hex
    client.predict("What is contributor timing?", session, "t1", api_name="/chat_session")
    assert _session_rows(app_server.db, session)["messages"] == 2
    done = client.predict(session, api_name="/forget_session")
    assert {k: done[k] for k in ("conversations", "messages", "feedback")} == {"conversations": 1, "messages": 2, "feedback": 0}
    assert done["session_id"] == session and done["message"].startswith("Chat forgotten")
    assert _session_rows(app_server.db, session) == {"conversations": 0, "messages": 0, "feedback": 0}
    assert client.predict(session, api_name="/forget_session")["messages"] == 0   # nothing left: 0, not an error
    with pytest.raises(Exception, match="32 hex"):
        client.predict("not-a-session", api_name="/forget_session")


def test_gradio_client_chat_with_history_endpoint(app_server):
    import json

    from gradio_client import Client

    client = Client(app_server.url, verbose=False)
    first = client.predict("What is the pushing side?", "", api_name="/chat_with_history")
    assert "pushing side" in first.lower()
    history = [{"role": "user", "content": "What is the pushing side?"}, {"role": "assistant", "content": first}]
    follow_up = client.predict("and the swing side?", json.dumps(history), api_name="/chat_with_history")
    assert isinstance(follow_up, str) and "swing side" in follow_up.lower()
    with pytest.raises(Exception, match="history_json must be a JSON list"):
        client.predict("and the swing side?", '{"role": "user"}', api_name="/chat_with_history")
    with pytest.raises(Exception, match="empty"):
        client.predict(" ", "[]", api_name="/chat_with_history")


def test_empty_data_dir_shows_the_ingest_banner(tmp_path, tab_factory):
    from gradio_client import Client

    from assistant.config import Settings
    from assistant.ui import create_app

    settings = Settings(data_dir=tmp_path / "empty-data")
    demo = create_app(settings)  # the same path `aq-coach serve` takes
    try:
        url = _start(demo, settings)
        tab = tab_factory(url)
        tab.open()
        banner = tab.page.locator("#aq-banner")
        assert banner.is_visible()
        assert "aq-coach ingest" in banner.inner_text()
        tab.page.fill("#aq-input textarea", "What is contributor timing?")
        tab.page.press("#aq-input textarea", "Enter")
        tab.page.wait_for_function(
            "() => [...document.querySelectorAll(\"#aq-chat [data-testid='bot']\")].some(e => e.innerText.includes('aq-coach ingest'))")
        assert "Traceback" not in tab.chat_text()
        with pytest.raises(Exception, match="aq-coach ingest"):
            Client(url, verbose=False).predict("What is contributor timing?", api_name="/chat")
    finally:
        demo.close()


def test_service_errors_never_show_a_traceback(settings, tmp_path, tab_factory):
    from assistant.chat import ERROR_TEXT
    from assistant.conversations import ConversationStore
    from assistant.store import IndexStatus
    from assistant.ui import build_app

    class BrokenService:
        searcher = SimpleNamespace(current_status=lambda: IndexStatus("complete", "v1", 10))

        def stream(self, question, history):
            raise RuntimeError("secret internal detail: Traceback (most recent call last)")

        def answer(self, question, history):
            raise RuntimeError("secret internal detail")

    demo = build_app(BrokenService(), ConversationStore(tmp_path / "app.sqlite"), [], settings)
    try:
        url = _start(demo, settings)
        tab = tab_factory(url)
        tab.open()
        tab.page.fill("#aq-input textarea", "What is contributor timing?")
        tab.page.press("#aq-input textarea", "Enter")
        tab.page.wait_for_function(
            "() => document.querySelector('#aq-chat').innerText.includes('something went wrong')")
        text = tab.page.inner_text("body")
        assert ERROR_TEXT in text and "secret internal detail" not in text and "Traceback" not in text
    finally:
        demo.close()


def test_login_when_auth_is_set(settings, tmp_path):
    """AQ_AUTH="user:password" turns on Gradio's login; without it the API refuses."""
    from gradio_client import Client

    from assistant.conversations import ConversationStore
    from assistant.store import IndexStatus
    from assistant.ui import build_app

    class FixedService:
        searcher = SimpleNamespace(current_status=lambda: IndexStatus("complete", "v1", 10))

        def answer(self, question, history):
            return SimpleNamespace(text=f"answer to {question}")

        def stream(self, question, history):
            yield self.answer(question, history)

    secured = settings.model_copy(update={"auth": "coach:s3cret"})
    assert secured.host == "127.0.0.1"  # loopback unless told otherwise
    demo = build_app(FixedService(), ConversationStore(tmp_path / "app.sqlite"), [], secured)
    try:
        url = _start(demo, secured)
        with pytest.raises(Exception, match="(?i)credentials|login|auth"):
            Client(url, verbose=False)
        client = Client(url, auth=("coach", "s3cret"), verbose=False)
        assert client.predict("What is the swing side?", api_name="/chat") == "answer to What is the swing side?"
    finally:
        demo.close()


def test_six_athletes_asking_at_once_each_get_their_answer(app_server, tab_factory, capsys):
    """Six browsers send at the same moment; each answer is timed from its own send.

    Composer answers run concurrently (answer_concurrency) and nothing paces the stream inside the
    slot, so no athlete waits behind the others' typing. The figures are printed for the closing
    note and `aq-coach bench`; the bound asserted is loose (the old single slot took 18.4 s)."""
    questions = ["What is contributor timing?", "Why does my sprint feel off?", "What is the swing side?",
                 "What's AQ?", "Is arm action important?", "Should I try to relax more when I sprint?"]
    tabs = [tab_factory(app_server.url) for _ in questions]
    for tab in tabs:
        tab.open()
    sent = []
    for tab, q in zip(tabs, questions):
        tab.ask(q, wait=False)
        sent.append(time.monotonic())
    done = [None] * len(tabs)
    deadline = time.monotonic() + 60
    while None in done and time.monotonic() < deadline:
        for i, tab in enumerate(tabs):
            if done[i] is None and tab.answers() >= 1:
                done[i] = time.monotonic() - sent[i]
        time.sleep(0.05)
    assert None not in done, f"not every athlete got an answer: {done}"
    with capsys.disabled():
        print(f"\n[ui] six browsers at once: answers after {', '.join(f'{d:.2f}' for d in sorted(done))} s")
    assert max(done) < 15
    for tab, q in zip(tabs, questions):
        assert q in " ".join(tab.user_messages())
