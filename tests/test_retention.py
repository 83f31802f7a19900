"""The retention purger (assistant.retention): AQ_HISTORY_RETENTION_DAYS purges at start and then each
round, on both databases, and `aq-coach serve`'s app starts it. forget/purge themselves are tested
through the store in tests/test_conversations.py."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from test_conversations import _age, _rows

from assistant.conversations import ConversationStore
from assistant.retention import RetentionPurger, cutoff_for, start_retention


def _wait(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_cutoff_is_days_before_now_and_refuses_nonsense():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert cutoff_for(1.5, now=now) == (now - timedelta(days=1.5)).isoformat(timespec="microseconds")
    assert cutoff_for(0, now=now) == now.isoformat(timespec="microseconds")
    for bad in (-1, float("nan"), float("inf"), 1e9):   # 1e9 days overflowed the date arithmetic
        with pytest.raises(ValueError, match="number of days"):
            cutoff_for(bad)


def test_the_purger_purges_at_start_and_then_every_round(database_url):
    store = ConversationStore(database_url)
    store.append_message("old", "user", "old q")
    _age(database_url, 40, session_id="old")
    store.append_message("new", "user", "new q")
    assert start_retention(store, None) is None   # off by default: no thread
    purger = start_retention(store, 30, interval_s=0.2)
    try:
        assert _wait(lambda: purger.rounds >= 1)
        assert [s for _, s in _rows(database_url)["conversations"]] == ["new"]      # purged at start
        assert purger.last == {"conversations": 1, "messages": 1, "feedback": 0}
        store.append_message("later", "user", "later q")
        _age(database_url, 31, session_id="later")
        seen = purger.rounds
        assert _wait(lambda: purger.rounds >= seen + 2)
        assert [s for _, s in _rows(database_url)["conversations"]] == ["new"]      # and again at the next round
    finally:
        purger.stop()
        purger.join(5)
    assert not purger.is_alive() and purger.daemon


def test_a_failed_round_is_logged_and_the_next_one_runs(tmp_path, caplog):
    class FlakyStore(ConversationStore):   # the database away for the first round
        calls = 0

        def purge(self, older_than_days, dry_run=False):
            FlakyStore.calls += 1
            if FlakyStore.calls == 1:
                raise OSError("database away")
            return super().purge(older_than_days, dry_run)

    purger = RetentionPurger(FlakyStore(tmp_path / "app.sqlite"), 30, interval_s=0.05)
    purger.start()
    try:
        assert _wait(lambda: purger.rounds >= 2)
    finally:
        purger.stop()
        purger.join(5)
    assert purger.last == {"conversations": 0, "messages": 0, "feedback": 0}
    assert "retention purge failed" in caplog.text


def _purgers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, RetentionPurger)]


def test_serve_starts_the_purger_only_when_retention_is_set(tmp_path):
    from assistant.config import Settings
    from assistant.ui import create_app

    before = set(_purgers())
    create_app(Settings(data_dir=tmp_path / "off"))          # the path `aq-coach serve` takes; no index here
    assert set(_purgers()) == before
    settings = Settings(data_dir=tmp_path / "on", history_retention_days=30)
    store = ConversationStore(settings.app_db)
    store.append_message("old", "user", "old q")
    _age(settings.app_database_url, 40, session_id="old")
    store.append_message("new", "user", "new q")
    create_app(settings)
    started = [p for p in _purgers() if p not in before]
    try:
        assert len(started) == 1 and started[0].days == 30 and started[0].interval_s == 3600
        assert _wait(lambda: started[0].rounds >= 1)
        assert [s for _, s in _rows(settings.app_database_url)["conversations"]] == ["new"]
    finally:
        for purger in started:
            purger.stop()
