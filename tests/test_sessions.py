"""Stored sessions for API clients (assistant.sessions), on SQLite and PostgreSQL, with the real composer."""

from __future__ import annotations

import pytest

from assistant.conversations import ConversationStore
from assistant.sessions import SessionChat

SESSION = "0123456789abcdef0123456789abcdef"


def test_a_follow_up_is_answered_in_the_stored_context(service, database_url):
    a = SessionChat(service, ConversationStore(database_url, served_by="a"))
    b = SessionChat(service, ConversationStore(database_url, served_by="b"))
    first = list(a.turn(SESSION, "What is contributor timing?", "t1"))
    follow = list(b.turn(SESSION, "How do I improve it?", "t2"))   # the next turn on another replica
    assert first[-1] and follow[-1]
    alone = list(b.turn("f" * 32, "How do I improve it?"))[-1]
    assert "contributor timing" in follow[-1].lower() and follow[-1] != alone  # "it" was resolved from the session
    rows = b.store.messages(SESSION)
    assert [m["role"] for m in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[1]["content"] == first[-1] and rows[1]["sources"]


def test_a_retried_turn_returns_the_stored_answer_and_stores_nothing_new(service, database_url):
    chat = SessionChat(service, ConversationStore(database_url))
    answer = list(chat.turn(SESSION, "What is the swing side?", "t1"))[-1]
    again = list(chat.turn(SESSION, "What is the swing side?", "t1"))
    assert again == [answer] and len(chat.store.messages(SESSION)) == 2


def test_an_unanswered_question_is_answered_once_when_asked_again(service, database_url):
    store = ConversationStore(database_url)
    store.append_message(SESSION, "user", "What is the pushing side?", turn_id="t1")  # its replica died here
    list(SessionChat(service, store).turn(SESSION, "What is the pushing side?", "t1"))
    assert [m["role"] for m in store.messages(SESSION)] == ["user", "assistant"]


def test_a_bad_turn_id_is_refused(service, tmp_path):
    with pytest.raises(ValueError, match="turn_id"):
        list(SessionChat(service, ConversationStore(tmp_path / "a.sqlite")).turn(SESSION, "What is the swing side?", "no spaces"))
