"""The most recent composer answers, remembered and shared by the server's threads.

A composer's answer is the same every time for the same conversation and index version, so the
answering service (assistant.answering) files it under that key and gives it again without
composing; athletes asking the same thing at once wait for one composition instead of each making it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

# How long an athlete's request waits for the same answer being composed for another before composing
# it too (a composer answer takes milliseconds; this only bounds a stuck one).
SAME_ANSWER_WAIT_S = 10.0


class AnswerCache:
    """The most recent composer answers (settings.answer_cache_size), shared by the server's threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._composing: dict[tuple, threading.Event] = {}  # keys being composed now, set when done

    def claim(self, key: tuple) -> threading.Event | None:
        """None when the caller is now composing key's answer (it must release(key) after);
        otherwise the event that the thread composing it sets when it is done."""
        with self._lock:
            event = self._composing.get(key)
            if event is None:
                self._composing[key] = threading.Event()
            return event

    def release(self, key: tuple) -> None:
        with self._lock:
            event = self._composing.pop(key, None)
        if event is not None:
            event.set()

    def get(self, key: tuple):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: tuple, value) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
