"""The doctrine guard: no answer may claim that the doctrine's subject ("coordination") causes speed.

Read in this order:
- `language.py`: how English claims and disclaims a cause (speed words, negation, reporting, perception);
- `rules.py`: the causal rules, compiled for one doctrine's subject and one glossary's terms;
- `judge.py`: `FramingJudge`, causal / felt / neutral per sentence with evidence, a verdict per answer;
- `stream.py`: `StreamGuard`, which releases a streamed answer one judged sentence at a time.

The service builds one `FramingJudge(doctrine, glossary)` for the corpus it answers from; the eval
suite's framing judge is the same judge.
"""

from __future__ import annotations

from .judge import FramingJudge
from .stream import StreamGuard
from .verdicts import FramingVerdict, Label, SentenceJudgement, Verdict

__all__ = [
    "FramingJudge",
    "FramingVerdict",
    "Label",
    "SentenceJudgement",
    "StreamGuard",
    "Verdict",
]
