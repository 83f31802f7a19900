"""What the framing judge says: a label per sentence, a verdict per answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Label = Literal["causal", "felt", "neutral"]
Verdict = Literal["pass", "fail", "uncertain"]


@dataclass(frozen=True)
class SentenceJudgement:
    """How one sentence frames the doctrine's subject (coordination, in AQ's doctrine)."""

    sentence: str
    label: Label  # causal | felt | neutral
    evidence: str  # span that decided it ("" for neutral)
    rule: str  # short rule name ("" for neutral)


@dataclass(frozen=True)
class FramingVerdict:
    """Answer-level verdict: fail if any sentence is causal."""

    verdict: Verdict
    sentences: tuple[SentenceJudgement, ...]
    # Neutral sentences that mention coordination and speed but that no rule could
    # decide (the reason for "uncertain"). Private, defaulted and left out of repr/eq
    # so the public API stays exactly verdict + sentences.
    _undecided: tuple[SentenceJudgement, ...] = field(
        default=(), repr=False, compare=False
    )

    @property
    def violations(self) -> tuple[SentenceJudgement, ...]:
        """The causal sentences."""
        return tuple(s for s in self.sentences if s.label == "causal")

    @property
    def evidence(self) -> list[str]:
        """One human-readable line per violating or undecided sentence."""
        out = [
            f"causal [{s.rule}]: '{s.evidence}' in: {s.sentence}"
            for s in self.violations
        ]
        undecided = self._undecided
        if not undecided and self.verdict == "uncertain":
            # Built by hand without _undecided: the neutral sentences are the undecided ones.
            undecided = tuple(s for s in self.sentences if s.label == "neutral")
        out += [
            f"uncertain: the doctrine's subject and speed both mentioned, no rule decided: {s.sentence}"
            for s in undecided
        ]
        return out

