"""The stream guard: an answer is released one judged sentence at a time."""

from __future__ import annotations

import re

from ..text import CITATION_MARK, STREAM_BOUNDARY
from .judge import FramingJudge

# A small model inventing the next turn of the conversation ("Question: Can you …").
_INVENTED_TURN = re.compile(r"^\W*(?:question|user|athlete|human|assistant|q|a)\s*:", re.I)
_ONLY_CITATIONS = re.compile(rf"(?:{CITATION_MARK.pattern}\s*)+")


class StreamGuard:
    """Judges a streamed answer one complete sentence at a time, before any of it is released.

    feed() takes the model's text as it arrives and returns the sentences that are complete and
    passed; close() does the same for what is left at the end. A sentence fails when the framing
    judge fails it (judged together with everything released so far, so a causal claim split over
    two sentences is still caught), when it repeats an earlier one, or when it invents a new turn
    of the conversation. After a failure nothing more is released; `evidence` says why.

    With `drop_failing` (a faithful answerer, which only quotes the articles) a failing sentence is
    left out instead, and the stream goes on: the rest of a quoted answer still stands.
    """

    def __init__(self, judge: FramingJudge, supported=None, drop_failing: bool = False) -> None:
        self._judge = judge
        self.buffer = ""
        self.released = ""
        self.failed = False
        self.evidence: list[str] = []
        self.dropped: list[str] = []       # sentences left out as unsupported by the passages
        self.kept = 0                      # sentences released
        self._seen: set[str] = set()
        self._supported = supported        # sentence -> bool (the grounding guard), or None
        self._drop_failing = drop_failing
        self.left_out: list[str] = []      # drop_failing: sentences that failed and were left out
        self._left_out_last = False

    def feed(self, piece: str) -> list[str]:
        self.buffer += piece
        out: list[str] = []
        while not self.failed:
            m = STREAM_BOUNDARY.search(self.buffer)
            if not m or (m.end() == len(self.buffer) and not m.group(0).startswith("\n")):
                break
            segment, self.buffer = self.buffer[:m.end()], self.buffer[m.end():]
            if self._admit(segment):
                out.append(segment)
        return out

    def close(self) -> list[str]:
        segment, self.buffer = self.buffer, ""
        return [segment] if segment.strip() and not self.failed and self._admit(segment) else []

    def _admit(self, segment: str) -> bool:
        text = segment.strip()
        if not text:
            self.released += segment
            return True
        if self._left_out_last and _ONLY_CITATIONS.fullmatch(text):
            return False  # the "[1]" of a sentence that was left out
        self._left_out_last = False
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if _INVENTED_TURN.match(text):
            return self._fail(f"the answer invented a conversation turn: {text[:80]}", text)
        if len(key) > 20 and key in self._seen:
            return self._fail("the answer repeated itself", text)
        verdict = self._judge.judge_framing(self.released + segment)
        if verdict.verdict != "pass":
            return self._fail("; ".join(verdict.evidence) or f"unclear framing: {text[:80]}", text)
        self._seen.add(key)
        if self._supported is not None and len(text.split()) >= 4 and not self._supported(text):
            self.dropped.append(text)  # not in the passages: left out, and the stream goes on
            self.evidence.append(f"unsupported by the passages, left out: {text[:120]}")
            return False
        self.released += segment
        self.kept += len(text.split()) >= 4  # a sentence with something to say ("👉✨" is not one)
        return True

    @property
    def mostly_unsupported(self) -> bool:
        """More was left out as unsupported than was kept, or nothing with content was kept: the answer does not stand."""
        if self._supported is None:
            return False
        return self.kept == 0 or len(self.dropped) >= self.kept

    def _fail(self, why: str, text: str) -> bool:
        self.evidence.append(why)
        if self._drop_failing:
            self.left_out.append(text)
            self._left_out_last = True
        else:
            self.failed = True
        return False
