"""Answer units: what a chunk says, in pieces an answer can be composed from. Built at ingest.

AQ's articles are written as lead lines ("For example:", "AQ looks deeper into:") with bullet
fragments, FAQ answers opening on ✅/❌, and summaries ("In other words…"). Read sentence by
sentence, most of that is fragments. Chunking turns each chunk into typed units, once:

- faq: an FAQ answer with its question and its verdict (yes / no, from its ✅/❌ opener);
- list: a lead sentence joined with its list;
- summary: a sentence opening on one of the doctrine's summary markers;
- definition: a sentence saying what something is ("X is …", "AQ views X as …");
- sentence: any other sentence worth quoting.

Each unit carries its section and its stance (improving, disrupted or neutral: which side of
sprinting it describes). The store adds each unit's embedding. Filler, rhetorical set-ups, and
sentences the framing judge would not pass never become units.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from .doctrine import Doctrine

if TYPE_CHECKING:  # the guard is needed when units are made (ingest), not on the search path
    from .guard import FramingJudge

UNIT_KINDS = ("faq", "list", "summary", "definition", "sentence")


@dataclass(frozen=True)
class AnswerUnit:
    text: str                  # finished sentences, cleaned for prose
    kind: str                  # one of UNIT_KINDS
    section: str
    stance: str = "neutral"    # improving | disrupted | neutral
    question: str = ""         # faq: the question it answers
    verdict: str = ""          # faq: "yes" / "no" when its answer opens on one
    subject: str = ""          # definition: what it defines, lower case
    context: str = ""          # the belief the passage argues against, set up just before it (for matching only)
    follows: bool = False      # it carries on from the unit before it ("They simply feel …", "Instead, …")
    vector: tuple[float, ...] | None = None   # its embedding, added at ingest

    @property
    def match_text(self) -> str:
        """What the unit is matched on (embedded, and for shared words): its FAQ question, the
        set-up it answers, and its text."""
        return " ".join(t for t in (self.question, self.context, self.text) if t)

    def as_dict(self) -> dict:
        # shallow: asdict() would deep-copy the 384-float vector of every unit (most of an ingest's time)
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        vec = data.pop("vector")
        if vec is not None:
            import numpy as np

            data["vec"] = base64.b64encode(np.asarray(vec, dtype=np.float16).tobytes()).decode("ascii")
        return {k: v for k, v in data.items() if v not in ("", None, False)}

    @classmethod
    def from_dict(cls, data: dict) -> AnswerUnit:
        vec = data.get("vec")
        vector = None
        if vec:
            import numpy as np

            vector = tuple(float(x) for x in np.frombuffer(base64.b64decode(vec), dtype=np.float16))
        fields = {k: data[k] for k in ("text", "kind", "section", "stance", "question", "verdict", "subject", "context", "follows")
                  if k in data}
        return cls(**fields, vector=vector)


def dump_units(units) -> str:
    """Units as one JSON string: Chroma metadata values must be scalars."""
    return json.dumps([u.as_dict() for u in units], ensure_ascii=False, separators=(",", ":"))


def load_units(text: str) -> tuple[AnswerUnit, ...]:
    try:
        return tuple(AnswerUnit.from_dict(d) for d in json.loads(text or "[]") if isinstance(d, dict) and d.get("text"))
    except (ValueError, TypeError):
        return ()


def with_vectors(units, vectors) -> tuple[AnswerUnit, ...]:
    import numpy as np

    return tuple(replace(u, vector=tuple(np.asarray(v, dtype=np.float64).tolist())) for u, v in zip(units, vectors))


_EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\ufe0f]+")
_CAPS = re.compile(r"\b(?!AQ\b)([A-Z]{2,})\b")
_LIST_ITEM = re.compile(r"^- ")


_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.;:?!…])")


def clean(text: str) -> str:
    """Prose for an answer: emoji markers dropped, SHOUTED words set in lower case."""
    text = _EMOJI.sub("", text)
    text = _CAPS.sub(lambda m: m.group(1).lower(), text)
    text = " ".join(text.split())  # runs of whitespace as one space (ingest calls this ~35 times a chunk)
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)


def _sentence(text: str, doctrine: Doctrine) -> str:
    text = clean(text).rstrip(":").strip()
    if not text:
        return ""
    text = doctrine.name_opening_pronoun(text)  # a unit stands alone: "They feel …" says who
    # Capitalise the first letter, also behind an opening quote: "“coordination” itself is …"
    text = re.sub(r"^([“\"‘']?)(\w)", lambda m: m.group(1) + m.group(2).upper(), text, count=1)
    return text if text.endswith((".", "!", "?", "…", "”")) else text + "."


def _join_items(items: list[str]) -> str:
    items = [c.rstrip(".") for c in map(clean, items) if c]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + (", and " if len(items) > 2 else " and ") + items[-1]


def _usable(sentence: str, doctrine: Doctrine, judge: FramingJudge) -> bool:
    """Never compose from a question, a heading-like fragment, filler, or a sentence the judge would not pass."""
    s = clean(sentence)
    if len(s.split()) < 7 or "?" in s or doctrine.filler.match(s):  # short lines carry rhythm, not a point
        return False  # "?" anywhere: a quoted question ("… “Okay… what does that mean?”") is still a question
    first = sentence.strip().lstrip("🔥👉❌ ").split(" ")[0]
    if first.isupper() and first != "AQ" and len(first) > 1:
        return False  # "WHAT the athlete changed."
    if s.lstrip("“\"‘'")[:1].islower():
        return False  # a fragment continuing a lead we do not have
    if len(re.sub(r"“[^”]*”|\"[^\"]*\"", " ", s).split()) < 4:
        return False  # a list of quoted phrases with no sentence around them
    return judge.judge_sentence(s).label != "causal"


# A sentence that opens on a pronoun for the athletes or a connective carries on from the one before.
_CONTINUES = re.compile(r"^(?:They|But|Instead|Rather|In other words|That is why|Which is why)\b")


def _is_short_point(sentence: str, doctrine: Doctrine, judge: FramingJudge) -> bool:
    """A short plain statement with a verb: not a unit alone, but part of one."""
    s = clean(sentence)
    return (3 <= len(s.split()) < 7 and s.endswith(".") and s[:1].isupper() and not doctrine.filler.match(s)
            and not doctrine.summary.match(s) and bool(_CLAUSE.search(s)) and judge.judge_sentence(s).label != "causal")


def _lead_to_clause(lead: str) -> str:
    lead = clean(lead).rstrip(":").strip()
    # "Because now “bad coordination” is …" → "“bad coordination” is …"
    return re.sub(r"^(?:(?:because|but|and|so)\s+)?(?:now\s+(?=\S+\s))?", "", lead, flags=re.I)


_CLAUSE = re.compile(r"\b(may|might|is|are|was|can|could|will|would|begins?|becomes?|feels?|needs?|continues?)\b", re.I)
# A lead that cannot stand alone: "When athletes suddenly feel:" + bullets still needs its main clause.
_SUBORDINATE = re.compile(r"^(when|whenever|if|although|while|once)\b", re.I)
# Leads after which the next line is a clause set off by a comma: "Instead:" + "athletes feel …".
_DISCOURSE = re.compile(r"^(instead|for example)$", re.I)
# Leads that point back at the article's previous paragraph: read out of it, they are dropped.
_BACK_REFERENCE = re.compile(r"^(in other words|in short|that is)$", re.I)
# Verbs whose object is a whole clause: "The athlete may not notice:" + "the swing side is …".
_THAT_VERB = re.compile(r"\b(realize|realise|notice|know|understand)$", re.I)


def _items_are_clauses(items: list[str]) -> bool:
    first = items[0].strip().lower()
    return bool(_CLAUSE.search(first)) and not first.startswith(("how ", "what ", "why ", "which ", "when "))


def _join_block(lines: list[str], doctrine: Doctrine) -> str:
    """A lead line, its bullets and any continuation lines, read as one sentence.

    "AQ looks deeper into:" + bullets → "AQ looks deeper into a, b, and c."
    "When athletes suddenly feel:" + bullets + "AQ says …" → "When athletes suddenly feel a, b and c, AQ says …"
    "Because “rhythm” often names:" + "🔥 a feeling" → "“Rhythm” often names a feeling."
    """
    out = ""
    lead = ""
    pending_items: list[str] = []
    subordinate_open = False  # a "When …:" lead whose main clause has not come yet

    def flush() -> None:
        nonlocal out, pending_items, subordinate_open
        if pending_items:
            # Bullets that are whole clauses ("the swing side may …") follow a lead with a comma
            # (or "that" after "realize"); bullets that finish the lead ("AQ looks deeper into" +
            # "swing-side thrust") follow a space.
            is_clause = _items_are_clauses(pending_items)
            if is_clause and _THAT_VERB.search(out):
                joiner = " that "
            else:
                joiner = ", " if is_clause else " "
            out = (out + joiner if out else "") + _join_items(pending_items)
            subordinate_open = bool(_SUBORDINATE.match(lead)) and not is_clause
            pending_items = []

    for line in lines:
        if _LIST_ITEM.match(line):
            pending_items.append(line[2:])
            continue
        had_items = bool(pending_items)
        flush()
        text = clean(line).rstrip(":").strip()
        if not text:
            continue
        if not out:
            out = lead = _lead_to_clause(text)
            continue
        if had_items and subordinate_open:
            # "When athletes suddenly feel smoother, … and less interrupted" + ", AQ says …"
            text = _lead_to_clause(text)
            out = f"{out}, {text if text.startswith('AQ') else text[:1].lower() + text[1:]}"
            subordinate_open = False
        elif not had_items and out == lead and _BACK_REFERENCE.match(lead):
            out = lead = text  # "In short:" + "AQ treats …" → "AQ treats …"
        elif not had_items and out == lead and _DISCOURSE.match(lead):
            out = f"{out}, {text}"  # "Instead:" + "athletes feel …" → "Instead, athletes feel …"
        else:
            out = f"{out} {text}"
    flush()
    return _sentence(out.replace("…", ""), doctrine)


def _is_list_line(line: str) -> bool:
    return bool(_LIST_ITEM.match(line))


def _needs_more(lines: list[str]) -> bool:
    """Does this block stop before its sentence ends (a lead ending in ":", or an open "When …:")?"""
    last = lines[-1].rstrip()
    if not _is_list_line(last) and last.endswith(":"):
        return True
    if _is_list_line(last) and _SUBORDINATE.match(_lead_to_clause(lines[0])):
        items = [ln[2:] for ln in lines if _is_list_line(ln)]
        return not _items_are_clauses(items)
    return False


def _segments(blocks: list[str]) -> list[list[str]]:
    """Blocks, with a block that stops mid-sentence joined to the single line that finishes it.

    The articles break one sentence over several blocks ("Because saying:" / "- “form
    improved”" / "still leaves open:" / "🔥 WHAT changed underneath."); read apart, each piece
    is a fragment.
    """
    out: list[list[str]] = []
    for block in blocks:
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        single = len(lines) == 1 and not _is_list_line(lines[0])
        if out and single:
            # "WITHOUT clearly identifying:" after "🔥 an athlete experience" carries on the same sentence.
            continues = clean(lines[0])[:1].islower() and not out[-1][-1].rstrip().endswith((".", "!", "?"))
            if _needs_more(out[-1]) or continues:
                out[-1] = out[-1] + lines
                continue
        out.append(lines)
    return out


# "AQ views it as …", "It may reflect …": what "it" stands for, from the sentences just before.
_VIEW_OBJECT = re.compile(r"\bview(?:s|ed)? (.+?) as\b", re.I)
_NEGATED_SUBJECT = re.compile(
    r"^(?:now |because now |because |but )?(.+?) (?:may|might|is|are|does|do|can|will|would)(?: \w+)? (?:not|no longer)\b", re.I
)
_PRONOUN_LEAD = re.compile(r"^(?:(AQ \w+) it\b|It\b)")
_EXPLAINS_WHY = re.compile(r"^(?:this|that) (?:also )?explains why ", re.I)


def _referent(recent: list[str]) -> str:
    for previous in reversed(recent[-3:]):
        text = clean(previous)
        m = _VIEW_OBJECT.search(text) or _NEGATED_SUBJECT.match(text)
        if not m:
            continue
        ref = m.group(1).strip(" ,")
        words = ref.split()
        if 1 <= len(words) <= 4 and words[0].lower() not in {"aq", "it", "this", "that", "they", "athletes"} and "," not in ref:
            return ref[:1].lower() + ref[1:] if not ref.startswith("AQ") else ref
    return ""


def _resolve_pronoun(text: str, recent: list[str]) -> str | None:
    """The sentence with a leading "it"/"this explains why" made explicit, or None when it cannot be."""
    if _EXPLAINS_WHY.match(text):  # "This explains why a stride can …" → "A stride can …"
        text = _EXPLAINS_WHY.sub("", text)
        text = text[:1].upper() + text[1:]
    m = _PRONOUN_LEAD.match(text)
    if not m:
        return text
    ref = _referent(recent)
    if not ref:
        return None
    if m.group(1):  # "AQ views it as …" → "AQ views better sprinting as …"
        return f"{m.group(1)} {ref}{text[m.end():]}"
    rest = text[m.end():]
    # "It reflects …" → "Smoother sprinting reflects …"
    return f"{ref[:1].upper()}{ref[1:]}{rest}"


# --- typing and stance ----------------------------------------------------------------------------

# "Sprint-system continuity is …", "“Coordination” means …": the sentence says what its subject is.
_DEFINES = re.compile(r"^[“\"‘']?((?:[\w’'-]+[”\"’']?\s){1,4}?)(?:is|are|means|refers to|describes)\b(?! not\b)", re.I)
_VIEWS_AS = re.compile(r"^AQ (?:views|sees|describes|treats) (.{3,40}?) as\b", re.I)
_VERDICT_NO = re.compile(r"^\W*(?:no\b|not\b|nope\b)", re.I)
_VERDICT_YES = re.compile(r"^\W*(?:yes\b|absolutely\b|often\b|usually\b)", re.I)


def _definition_subject(sentence: str) -> str:
    sentence = re.sub(r"^AQ (?:suggests|says|believes)(?: that)? ", "", sentence)
    m = _VIEWS_AS.match(sentence) or _DEFINES.match(sentence)
    if not m:
        return ""
    subject = re.sub(r"[“”\"‘’']", "", m.group(1)).strip().lower()
    if subject.split()[0] in {"it", "this", "that", "there", "they", "what", "which", "athletes", "many", "most"}:
        return ""
    return subject


def _typed(text: str, kind: str, section: str, doctrine: Doctrine) -> AnswerUnit:
    subject = ""
    if kind == "sentence" and doctrine.summary.match(text):
        kind = "summary"
    if kind in ("sentence", "summary"):
        subject = _definition_subject(text)
        if subject and kind == "sentence":
            kind = "definition"
    return AnswerUnit(text, kind, section, doctrine.stance_of(text), subject=subject)


def _faq_unit(blocks: list[str], section: str, question: str, doctrine: Doctrine, judge: FramingJudge) -> AnswerUnit | None:
    sentences, verdict = [], ""
    first = _EMOJI.sub("", blocks[0]).strip() if blocks else ""
    if blocks and (blocks[0].lstrip().startswith("❌") or _VERDICT_NO.match(first)):
        verdict = "no"
    elif blocks and (blocks[0].lstrip().startswith("✅") or _VERDICT_YES.match(first)):
        verdict = "yes"
    for block in blocks:
        lines = block.split("\n")
        if block.strip().startswith(("❌", "✅")) and len(clean(block).split()) <= 4:
            continue  # "❌ Not directly." reads oddly out of its FAQ; the verdict keeps it
        if any(_LIST_ITEM.match(ln) for ln in lines):
            sentences.append(_join_block(lines, doctrine))
        else:
            sentences.extend(_sentence(_lead_to_clause(ln), doctrine) for ln in lines)
    text = " ".join(s for s in sentences if s and judge.judge_sentence(s).label != "causal")
    if not text:
        return None
    return AnswerUnit(text, "faq", section, doctrine.stance_of(text), question=question, verdict=verdict)


def parse_units(body: str, kind: str, section: str, doctrine: Doctrine, judge: FramingJudge,
                question: str = "") -> tuple[AnswerUnit, ...]:
    """The answer units of one chunk body (its Markdown without the title line); a sentence the corpus's
    framing judge finds causal is never a unit."""
    blocks = [b for b in body.split("\n\n") if b.strip()]
    if kind == "faq":
        unit = _faq_unit(blocks, section, question, doctrine, judge)
        return (unit,) if unit else ()
    units: list[AnswerUnit] = []
    previous = ""
    recent: list[str] = []  # every sentence read so far in this chunk, used or not (for "it")
    setup: list[str] = []   # a rhetorical set-up: what the next units answer

    def add(text: str, unit_kind: str, raw: str = "") -> bool:
        resolved = _resolve_pronoun(text, recent)
        recent.append(text)
        if resolved is not None and previous and units and _is_short_point(resolved, doctrine, judge):
            # A line too short to stand alone ("Their heads may move.") finishes the point of the
            # sentence just before it.
            joined = f"{units[-1].text} {_sentence(resolved, doctrine)}"
            units[-1] = replace(units[-1], text=joined, stance=doctrine.stance_of(joined))
            return True
        if resolved is None or not _usable(resolved, doctrine, judge) or doctrine.filler.match(clean(raw or text)):
            return False
        unit = _typed(_sentence(resolved, doctrine), unit_kind, section, doctrine)
        if units and _CONTINUES.match(clean(raw or text)):
            unit = replace(unit, follows=True)
        units.append(replace(unit, context=" ".join(setup)[:300]) if setup else unit)
        return True

    for lines in _segments(blocks):
        has_list = any(_LIST_ITEM.match(ln) for ln in lines)
        if has_list or (len(lines) > 1 and lines[0].rstrip().endswith(":")):
            lead = _lead_to_clause(lines[0])
            text = _join_block(lines, doctrine)
            if doctrine.rhetorical.search(lead) or _needs_more(lines):
                recent.append(text)  # the belief AQ argues against, or a sentence that goes on elsewhere
                if doctrine.rhetorical.search(lead):
                    setup[:] = [text]
                previous = ""
                continue
            if re.match(r"^for example\b", lead, re.I) and previous:
                text = f"{_sentence(_lead_to_clause(previous), doctrine)} {text}"
            add(text, "list" if has_list else "sentence")
            previous = ""
            continue
        for line in lines:
            for s in re.split(r"(?<=[.!…])\s+(?=[A-Z🔥👉“\"])", line):
                if s.strip().endswith(":"):
                    continue
                previous = s if add(_lead_to_clause(s), "sentence", s) else ""
    return tuple(units)

