"""The framing judge: does a sentence, or an answer, claim that the doctrine's subject causes speed?

How a sentence is judged:
  1. normalise (lowercase, straight quotes, expanded contractions, spaced dashes);
  2. no subject mention ("coordinat*") -> neutral (nothing to claim);
  3. each causal rule (rules.py) is tried; a match only counts when the subject is not a perception
     object ("feels coordinated"), speed is not a perceived speed ("feels faster"), and the claim is
     not quoted, negated ("not", "rather than", ...), reported from someone else ("many athletes
     believe", "traditional thinking says", ...) or debunked ("... is a myth"). A reported belief
     that is then endorsed ("and they're right") counts again;
  4. otherwise a felt cue (feel, label, call, appear, ...) -> felt, else neutral.
`judge_framing` adds three cross-sentence rules (question + subject answer, pronoun anaphora,
reported belief + affirmation) that single sentences cannot see. A sentence that mentions the
subject and speed but that no rule decides makes the verdict "uncertain".

It is pure stdlib, offline and fast (precompiled tables, no model calls): the runtime guard and the
eval suite's framing judge are the same judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..corpus import Glossary
from ..doctrine import Doctrine
from ..text import split_sentences
from .language import (
    _AFFIRM,
    _AFFIRM_SENTENCE,
    _ASIDE,
    _DIST_AFTER,
    _DIST_NOMINAL,
    _DIST_VERB,
    _FELT_CUES,
    _HARD_BREAK,
    _INQUIRY,
    _NEG,
    _NOT_NEG,
    _PERC_AFTER,
    _PERC_BEFORE,
    _S_HOW_FEELS,
    _S_PERC_BEFORE,
    _S_RX,
    _SARCASM,
    _SOFT_BREAK,
    _SPEED_QUESTION,
    _TOKEN,
    _normalise,
)
from .rules import RuleSet, _Rule, compile_rules
from .verdicts import FramingVerdict, SentenceJudgement, Verdict


@dataclass(frozen=True)
class _Analysis:
    judgement: SentenceJudgement
    undecided: bool = False
    reported: bool = False  # a causal pattern was voided only because it was reported
    c_focus: bool = False  # ends on a plain (not perceived, not negated) coordination mention
    question: bool = False
    has_s: bool = False
    has_neg: bool = False
    norm: str = ""


def _clause_start(norm: str, pos: int) -> int:
    """Start of the clause containing pos (after the last hard or soft break)."""
    start = 0
    for m in _HARD_BREAK.finditer(norm, 0, pos):
        start = m.end()
    for m in _SOFT_BREAK.finditer(norm, start, pos):
        start = m.start()
    return start


def _c_perceived(norm: str, c_start: int, c_end: int) -> bool:
    before = norm[max(0, c_start - 45):c_start]
    before = before[max(before.rfind(","), before.rfind(";"), before.rfind("\u2014")) + 1:]
    return bool(_PERC_BEFORE.search(before) or _PERC_AFTER.match(norm[c_end:c_end + 30]))


def _s_perceived(norm: str, s_start: int, s_end: int) -> bool:
    if _S_PERC_BEFORE.search(norm[max(0, s_start - 25):s_start]):
        return True
    return norm[max(0, s_start - 4):s_start] == "how " and bool(_S_HOW_FEELS.match(norm[s_end:s_end + 30]))


_SINGLE_QUOTED = re.compile(r"(?<!\w)'(?=\S)(.+?)(?<=\S)'(?!\w)")


def _quoted(norm: str, pos: int) -> bool:
    """Inside a double-quoted span, or a single-quoted span (apostrophes are mostly
    gone after contraction expansion, so ' pairs are real quotes)."""
    if norm.count('"', 0, pos) % 2 == 1 and '"' in norm[pos:]:
        return True
    for m in _SINGLE_QUOTED.finditer(norm):
        if m.start() < pos < m.end():
            return True
    return False


_REPORT_STOP = re.compile(r"[;.]")


def _clauses(norm: str) -> list[str]:
    return [c.strip(" ,") for c in _HARD_BREAK.split(norm) if c.strip(" ,")]


@lru_cache(maxsize=8)
def _load_rules(subject: str, terms: tuple[str, ...], generic_words: tuple[str, ...]) -> RuleSet:
    return compile_rules(subject, terms, generic_words)  # once per corpus, however many judges


class FramingJudge:
    """The framing judge for a corpus: its doctrine's subject, and its glossary's terms.

    Built by the service (and by the eval runner) from the corpus it answers from, never at import.
    """

    def __init__(self, doctrine: Doctrine, glossary: Glossary | None = None) -> None:
        subject = doctrine.data.get("subject_pattern") or re.escape(doctrine.subject)
        self.rules = _load_rules(str(subject), tuple(t.term for t in glossary or ()), tuple(sorted(doctrine.generic_words)))
        # pure; a streamed answer is judged again with each sentence it adds
        self._analyse = lru_cache(maxsize=16384)(self._analyse)  # type: ignore[method-assign]

    def _strip_aside(self, m: re.Match[str]) -> str:
        # An aside that negates coordination itself ("timing, not coordination, explains") stays.
        return m.group(0) if self.rules.subject.search(m.group(0)) else " , "

    def _negated(self, text: str) -> bool:
        if not _NEG.search(text):
            return False  # fast path: most text has no negator at all
        text = _ASIDE.sub(self._strip_aside, _NOT_NEG.sub(" ", text))
        return bool(_NEG.search(text))

    def _distanced(self, norm: str, m_start: int, m_end: int) -> bool:
        """Reported from someone else / debunked, and not endorsed afterwards."""
        # A report governs what follows it up to a sentence stop, ";" or a contrast
        # ("..., but AQ ..."); ":" and dashes often introduce the reported content itself.
        start = 0
        for b in _REPORT_STOP.finditer(norm, 0, m_start):
            start = b.end()
        for b in _SOFT_BREAK.finditer(norm, start, m_start):
            start = b.start()
        prefix = norm[start:m_start]
        after = norm[m_end:]
        reported = bool(_DIST_NOMINAL.search(prefix) or _DIST_VERB.search(prefix))
        debunked = bool(_DIST_AFTER.search(after))
        if not (reported or debunked):
            return False
        if reported and not debunked:
            aff = _AFFIRM.search(after)
            if aff and not self._negated(after[:aff.end()]):
                return False
        return True

    def _check(self, rule: _Rule, m: re.Match[str], norm: str) -> str:
        """'' if the match is a live causal claim, else why it was voided."""
        gd = m.groupdict()
        c0 = m.start("c") if gd.get("c") is not None else m.start()
        if gd.get("c") is not None and not rule.c_may_be_perceived:
            if _c_perceived(norm, m.start("c"), m.end("c")):
                return "perceived"
        if gd.get("s") is not None and _s_perceived(norm, m.start("s"), m.end("s")):
            return "perceived"
        if rule.needs_free_s:
            free = [s for s in _S_RX.finditer(norm)
                    if not (m.start() <= s.start() < m.end()) and not _s_perceived(norm, s.start(), s.end())]
            if not free:
                return "no-speed"
        if _quoted(norm, c0):
            return "quoted"
        if rule.neg_scope == "sentence":
            region = norm
        else:
            region_start = _clause_start(norm, m.start())
            region_end = m.start() if rule.neg_scope in ("prefix", "verb") else m.end()
            region = norm[region_start:region_end]
            if rule.neg_scope == "verb":
                region += " " + norm[m.start("v"):m.end()]
        if self._negated(region):
            return "negated"
        if self._distanced(norm, m.start(), m.end()):
            return "reported"
        return ""

    def _plain_c_focus(self, text: str) -> bool:
        """Text ends on a coordination mention that could be a pronoun's antecedent."""
        cs = list(self.rules.c_rx.finditer(text))
        if not cs or self._negated(text) or _quoted(text, cs[-1].start()):
            return False
        last = cs[-1]
        if _c_perceived(text, last.start(), last.end()):
            return False
        rel = [r.start() for r in self.rules.relation_terms.finditer(text)]
        return not rel or max(rel) < last.start()

    def _anaphor(self, clause: str) -> tuple[str, str] | None:
        for rule in self.rules.anaphora:
            m = rule.rx.search(clause)
            if m and not self._negated(clause[:m.end()]) and not _s_perceived(clause, m.start("s"), m.end("s")):
                return rule.name, m.group(0)
        return None

    def _analyse(self, sentence: str) -> _Analysis:
        if not self.rules.subject.search(sentence):
            # Most sentences: no coordination mention, nothing to claim; skip the work.
            norm = _normalise(sentence)
            return _Analysis(SentenceJudgement(sentence, "neutral", "", ""), question=norm.endswith("?"),
                             has_s=bool(_S_RX.search(norm)), has_neg=self._negated(norm), norm=norm)
        norm = _normalise(sentence)
        question = norm.endswith("?")
        c_pos = [m.start() for m in self.rules.c_rx.finditer(norm)]
        s_hits = list(_S_RX.finditer(norm))
        s_pos = [m.start() for m in s_hits]
        # Speed that is only felt ("feels faster") does not count as a speed claim.
        has_s = any(not _s_perceived(norm, m.start(), m.end()) for m in s_hits)
        has_neg = self._negated(norm)
        base = dict(question=question, has_s=has_s, has_neg=has_neg, norm=norm)
        if not c_pos:
            return _Analysis(SentenceJudgement(sentence, "neutral", "", ""), **base)

        voided: set[str] = set()
        if not question and not _SARCASM.match(norm):
            causal = self._causal(sentence, norm, c_pos, s_pos, voided)
            if causal:
                return _Analysis(causal, **base)

        reported = "reported" in voided and "negated" not in voided
        for name, rx in _FELT_CUES:
            fm = rx.search(norm)
            if fm:
                # Evidence: the cue together with the nearest coordination mention, if close.
                c = min(c_pos, key=lambda p: abs(p - fm.start()))
                c_end = self.rules.c_rx.match(norm, c).end()  # type: ignore[union-attr]
                lo, hi = min(c, fm.start()), max(c_end, fm.end())
                span = norm[lo:hi] if hi - lo <= 80 else fm.group(0)
                return _Analysis(SentenceJudgement(sentence, "felt", span, name), reported=reported, **base)
        # Reported views ("traditional thinking says ...") are decided: not our claim.
        reported_view = bool(_DIST_NOMINAL.search(norm) or _DIST_VERB.search(norm) or _INQUIRY.search(norm))
        undecided = (has_s and not question and not voided and not has_neg and not reported_view
                     and not _SARCASM.match(norm))
        c_focus = (not question) and self._plain_c_focus(norm)
        return _Analysis(SentenceJudgement(sentence, "neutral", "", ""), undecided=undecided,
                         reported=reported, c_focus=c_focus, **base)

    def _causal(self, sentence: str, norm: str, c_pos: list[int], s_pos: list[int], voided: set[str]) -> SentenceJudgement | None:
        """The first causal rule that matches and is not voided; why the others were voided goes in `voided`."""
        where: dict[str, list[int]] = {}
        for t in _TOKEN.finditer(norm):
            where.setdefault(t.group(), []).append(t.start())
        for rule in self.rules.causal:
            if rule.needs_s and not s_pos:
                continue
            if rule.anchor:
                starts = c_pos if rule.anchor == "c" else s_pos
            else:
                starts = [p for w in rule.starts & where.keys() for p in where[w]]
                if "^" in rule.starts:
                    starts.insert(0, 0)
                if "S" in rule.starts:
                    starts += s_pos
            for m in filter(None, (rule.rx.match(norm, p) for p in starts)):
                why = self._check(rule, m, norm)
                if not why:
                    return SentenceJudgement(sentence, "causal", m.group(0).strip(" ,"), rule.name)
                voided.add(why)
        # Pronoun standing for coordination in the previous clause.
        clauses = _clauses(norm)
        for prev, cur in zip(clauses, clauses[1:]):
            if self._plain_c_focus(prev):
                hit = self._anaphor(cur)
                if hit and not self._distanced(norm, norm.find(cur), norm.find(cur) + len(cur)):
                    return SentenceJudgement(sentence, "causal", f"{prev} \u2014 {hit[1]}", hit[0])
        return None

    def judge_sentence(self, sentence: str) -> SentenceJudgement:
        """Label one sentence causal / felt / neutral, with the deciding span and rule."""
        return self._analyse(sentence).judgement

    def judge_framing(self, text: str) -> FramingVerdict:
        """Judge a whole answer: fail on any causal sentence, uncertain on undecided ones."""
        analyses = [self._analyse(s) for s in split_sentences(text)]
        judged: list[SentenceJudgement] = []
        for i, a in enumerate(analyses):
            j = a.judgement
            prev = analyses[i - 1] if i else None
            if j.label != "causal" and prev is not None:
                j = self._context_rule(prev, a) or j
            judged.append(j)
        undecided = tuple(
            a.judgement for a, j in zip(analyses, judged) if a.undecided and j.label != "causal"
        )
        if any(j.label == "causal" for j in judged):
            verdict: Verdict = "fail"
        elif undecided:
            verdict = "uncertain"
        else:
            verdict = "pass"
        return FramingVerdict(verdict, tuple(judged), _undecided=undecided)

    def _context_rule(self, prev: _Analysis, cur: _Analysis) -> SentenceJudgement | None:
        """Claims split across two sentences."""
        sent, norm = cur.judgement.sentence, cur.norm
        # "Want to run faster? Improve your coordination." / "Why are they fast? Coordination."
        if (prev.question and prev.has_s and _SPEED_QUESTION.search(prev.norm)
                and not cur.question and not cur.has_neg and cur.judgement.label == "neutral"
                and cur.c_focus):
            short = len(norm.split()) <= 6 and self.rules.short_answer_head.search(norm)
            if short or self.rules.imperative_head.search(norm):
                return SentenceJudgement(sent, "causal", f"{prev.judgement.sentence} {sent}", "question-answered-by-coordination")
        # "Coordination is everything. It's what makes you fast."
        if not self.rules.c_rx.search(norm) and not prev.question and self._plain_c_focus(prev.norm.rstrip(".!")):
            hit = self._anaphor(norm)
            if hit and not self._distanced(norm, 0, len(norm)):
                return SentenceJudgement(sent, "causal", f"{prev.judgement.sentence} {hit[1]}", hit[0])
        # "Many coaches say coordination makes you faster. They're right."
        if prev.reported and _AFFIRM_SENTENCE.search(norm) and not cur.has_neg:
            return SentenceJudgement(sent, "causal", f"{prev.judgement.sentence} {sent}", "reported-then-endorsed")
        return None
