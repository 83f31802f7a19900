"""The maintainers' page routes (assistant.maintainers): refused without the maintainer login, served with it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.config import Settings
from assistant.maintainers import add_maintainer_routes, parse_admin_auth

TOPICS = [{"name": "block starts", "verdict": "content_gap", "count": 3}]


def _client(admin_auth: str | None, seen: list | None = None) -> TestClient:
    app = FastAPI()

    def topics(since):
        if seen is not None:
            seen.append(since)
        return TOPICS

    add_maintainer_routes(app, Settings(admin_auth=admin_auth, auth="athlete:pw"), topics,
                          lambda ts: f"<h1>{len(ts)} topics</h1>")
    return TestClient(app)


def test_the_page_and_its_api_refuse_without_the_maintainer_login():
    client = _client("coach:s3cret")
    for path in ("/maintainers", "/maintainers/topics"):
        assert client.get(path).status_code == 401
        assert client.get(path, auth=("coach", "wrong")).status_code == 401
        assert client.get(path, auth=("athlete", "pw")).status_code == 401, "an athlete's login never opens it"


def test_with_the_login_the_page_shows_the_topics():
    seen: list = []
    client = _client("coach:s3cret", seen)
    page = client.get("/maintainers", auth=("coach", "s3cret"))
    assert page.status_code == 200 and "1 topics" in page.text
    data = client.get("/maintainers/topics?since=7", auth=("coach", "s3cret")).json()
    assert data == {"topics": TOPICS} and seen == [None, 7.0]


def test_the_page_is_off_without_admin_auth():
    client = _client(None)
    response = client.get("/maintainers", auth=("coach", "s3cret"))
    assert response.status_code == 403 and "AQ_ADMIN_AUTH" in response.text


@pytest.mark.parametrize("since", ["-3", "abc", "0", "inf", "1e9", "nan"])
def test_a_bad_since_is_one_clear_message(since):
    response = _client("coach:s3cret").get(f"/maintainers/topics?since={since}", auth=("coach", "s3cret"))
    assert response.status_code == 400 and "positive number of days" in response.text, response.text


@pytest.mark.parametrize("value", ["coach", ":pw", "coach:", "  "])
def test_a_malformed_admin_auth_is_refused(value):
    if not value.strip():
        assert parse_admin_auth(value.strip()) is None
        return
    with pytest.raises(ValueError, match="user:password"):
        parse_admin_auth(value)


# --- the real app in Chromium ----------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.server
def test_the_maintainers_page_in_chromium(indexed_settings, embeddings, tmp_path):
    """The real app (chat + /maintainers) over a database seeded through the chat controller: the page
    refuses without the maintainer login, and with it shows the topics and the bar chart."""
    import dataclasses
    import shutil
    from pathlib import Path

    from helpers import free_port
    from playwright.sync_api import sync_playwright

    from assistant.answering import AnsweringService
    from assistant.conversations import ConversationStore
    from assistant.evals.insights_eval import load_seed, seed_store
    from assistant.indexing import glossary_for, open_searcher
    from assistant.ui import build_app, serve

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "Chromium not found: apt-get install -y chromium (browser tests never skip)"
    port = free_port()
    settings = indexed_settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'app.sqlite'}", "admin_auth": "coach:s3cret",
        "auth": "athlete:pw", "host": "127.0.0.1", "port": port})
    glossary = glossary_for(settings)
    service = AnsweringService(settings, open_searcher(settings, embeddings), glossary)
    store = ConversationStore(settings.app_database_url)
    wanted = {"block-starts", "spikes-and-shoes", "pushing-side"}
    seed = [dataclasses.replace(t, conversations=t.conversations[:4]) for t in load_seed() if t.id in wanted]
    seed_store(service, store, seed, glossary)
    demo = build_app(service, store, glossary, settings)
    serve(demo, settings, block=False)
    url = f"http://127.0.0.1:{port}/maintainers"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
            refused = browser.new_context()
            with pytest.raises(Exception, match="AUTH"):   # Chromium gets the 401 challenge and shows nothing
                refused.new_page().goto(url)
            assert refused.request.get(url).status == 401
            athlete = browser.new_context(http_credentials={"username": "athlete", "password": "pw"})
            assert athlete.request.get(url).status == 401, "the athletes' login does not open the maintainers' page"
            page = browser.new_context(http_credentials={"username": "coach", "password": "s3cret"}).new_page()
            assert page.goto(url).status == 200
            text = page.inner_text("body")
            assert "content_gap" in text or "content gap" in text.lower()
            assert page.locator("svg").count() >= 1 and page.locator("svg rect").count() >= 2, "the bar chart"
            assert any(q in text for t in seed for c in t.conversations for q in c.turns), "the athletes' questions"
            api = page.request.get(f"{url}/topics")
            assert api.status == 200 and len(api.json()["topics"]) >= 2
            assert refused.request.get(f"{url}/topics").status == 401
            browser.close()
    finally:
        demo.close()
