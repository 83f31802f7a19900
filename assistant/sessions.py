"""Stored conversations for API clients: one turn of a session, answered and kept in the database.

The web UI keeps a browser's conversation by its session id; `/chat_session` does the same for a
script or a load balancer's client, so any replica can carry a session on. A client that lost a
reply (its replica died) retries the turn with the same turn id: the stored answer comes back, or
the turn is answered again, and either way it is stored once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .answering import Answer, AnswerDelta, AnsweringService, with_text_so_far
from .conversations import ConversationStore

_TURN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class SessionChat:
    """Answers one turn of a stored session (the service answers, the store keeps both messages)."""

    def __init__(self, service: AnsweringService, store: ConversationStore) -> None:
        self.service = service
        self.store = store

    def turn(self, session_id: str, question: str, turn_id: str = "") -> Iterator[str]:
        """The answer text, growing as it streams; the last value is the whole, stored answer."""
        turn_id = (turn_id or "").strip()
        if turn_id and not _TURN_ID.match(turn_id):
            raise ValueError("turn_id must be 1-64 letters, digits or _ . : -")
        if turn_id:
            done = self.store.answered(session_id, turn_id)
            if done is not None:
                yield done["content"]
                return
        history = self.store.history(session_id)
        if history and history[-1]["role"] == "user":
            history = history[:-1]   # its question went unanswered: it is the one being asked again, or replaced
        asked = self.store.append_message(session_id, "user", question, turn_id=turn_id or None)
        for streamed, item in with_text_so_far(self.service.stream(question, history)):
            if isinstance(item, AnswerDelta):
                yield streamed
            elif isinstance(item, Answer):
                self._keep(session_id, item, turn_id, asked)
                yield item.text.strip()

    def _keep(self, session_id: str, answer: Answer, turn_id: str, asked: int | None) -> None:
        """Store the answer, unless its question was forgotten (/forget_session) while it was answered."""
        notices = [n for n in [getattr(answer.guard, "notice", "") or "", *(answer.notices or [])] if n]
        self.store.append_message(session_id, "assistant", answer.text, sources=answer.sources, backend=answer.backend,
                                  notices=list(dict.fromkeys(notices)), turn_id=turn_id or None, reply_to=asked,
                                  vector=answer.query_vector, meta=answer.insight_meta())
