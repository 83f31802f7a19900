"""The composer: the offline default answerer. No LLM; faithful by construction.

It reads the retrieved chunks as *units* worth composing from (a FAQ answer with its question,
a lead sentence with its bullet list, a section summary such as "AQ views coordination as …"),
never as questions or headings, scores them against the question, removes repetition, and writes
them up with short connective text in AQ's voice. Every content sentence keeps the id of the
chunk it came from, and any sentence the framing judge would not pass is never used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..corpus import Glossary
from ..guard import judge_sentence
from ..retrieval import SearchHit, tokenize
from ..scope import Intent, named_terms

# Lines that carry rhythm in the article but no content for an answer.
_FILLER = re.compile(
    r"^(interesting|reasonable|fair question|that is a (huge|very important) distinction|that changes|"
    r"think about what we just discussed|that distinction matters|that matters enormously|this is (one of|another)|"
    r"and usually|at least generally|that creates a very different|and that may completely change|"
    r"because now the question|it may also be|suddenly sprinting becomes much more understandable|"
    r"but ai? ?aq asks|but aq looks deeper|but aq suggests something|but aq says something|"
    r"that changes how|everyone seems|because athletes can feel)",
    re.I,
)
_EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\ufe0f]+")
_CAPS = re.compile(r"\b(?!AQ\b)([A-Z]{2,})\b")
_LIST_ITEM = re.compile(r"^- ")
_SUMMARY = re.compile(r"^(in other words|aq views|aq suggests|aq says|aq does not|aq focuses|as those relationships)", re.I)


@dataclass
class Unit:
    text: str                 # one or more finished sentences, cleaned for prose
    chunk_id: str
    rank: int                 # rank of its chunk in retrieval (0 = best)
    kind: str                 # faq | list | summary | sentence
    section: str
    tokens: set = field(default_factory=set)
    score: float = 0.0
    overlap: int = 0          # words shared with the question (and the AQ terms it names)


def clean(text: str) -> str:
    """Prose for an answer: emoji markers dropped, SHOUTED words set in lower case."""
    text = _EMOJI.sub("", text)
    text = _CAPS.sub(lambda m: m.group(1).lower(), text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.;:?!…])", r"\1", text)
    return text


def _sentence(text: str) -> str:
    text = clean(text).rstrip(":").strip()
    if not text:
        return ""
    text = re.sub(r"^They\b", "Athletes", text)  # in AQ's articles "they" is the athletes
    # Capitalise the first letter, also behind an opening quote: "“coordination” itself is …"
    text = re.sub(r"^([“\"‘']?)(\w)", lambda m: m.group(1) + m.group(2).upper(), text, count=1)
    return text if text.endswith((".", "!", "?", "…", "”")) else text + "."


def _join_items(items: list[str]) -> str:
    items = [clean(i).rstrip(".") for i in items if clean(i)]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + (", and " if len(items) > 2 else " and ") + items[-1]


def _usable(sentence: str) -> bool:
    """Never compose from a question, a heading-like fragment, filler, or a sentence the judge would not pass."""
    s = clean(sentence)
    if len(s) < 25 or "?" in s or _FILLER.match(s):
        return False  # "?" anywhere: a quoted question ("… “Okay… what does that mean?”") is still a question
    first = sentence.strip().lstrip("🔥👉❌ ").split(" ")[0]
    if first.isupper() and first != "AQ" and len(first) > 1:
        return False  # "WHY one athlete is actually faster."
    if s.lstrip("“\"‘'")[:1].islower():
        return False  # a fragment continuing a lead we do not have
    return judge_sentence(s).label != "causal"


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
# Verbs whose object is a whole clause: "The athlete may not consciously realize:" + "the swing side is …".
_THAT_VERB = re.compile(r"\b(realize|realise|notice|know|understand)$", re.I)


def _items_are_clauses(items: list[str]) -> bool:
    first = items[0].strip().lower()
    return bool(_CLAUSE.search(first)) and not first.startswith(("how ", "what ", "why ", "which ", "when "))


def _join_block(lines: list[str]) -> str:
    """A lead line, its bullets and any continuation lines, read as one sentence.

    "AQ looks deeper into:" + bullets → "AQ looks deeper into a, b, and c."
    "When athletes suddenly feel:" + bullets + "AQ says …" → "When athletes suddenly feel a, b and c, AQ says …"
    "Because “coordination” often describes:" + "🔥 an athlete experience" → "“Coordination” often describes an athlete experience."
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
            out = lead = text  # "In other words:" + "AQ does not view …" → "AQ does not view …"
        elif not had_items and out == lead and _DISCOURSE.match(lead):
            out = f"{out}, {text}"  # "Instead:" + "athletes feel …" → "Instead, athletes feel …"
        else:
            out = f"{out} {text}"
    flush()
    return _sentence(out.replace("…", ""))


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

    The articles break one sentence over several blocks ("Because saying:" / "- “coordination
    improved”" / "still does not fully explain:" / "🔥 WHAT specifically improved mechanically
    underneath."); read apart, each piece is a fragment.
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
    if _EXPLAINS_WHY.match(text):  # "This also explains why sprinting can …" → "Sprinting can …"
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


def units_from_hit(hit: SearchHit, rank: int) -> list[Unit]:
    """Split one chunk into composable units (parsed once per chunk, then reused for every query)."""
    parsed = _parse_units(hit.id, hit.kind, hit.section, hit.text)
    return [Unit(text, hit.id, rank, kind, hit.section) for text, kind in parsed]


@lru_cache(maxsize=4096)
def _parse_units(chunk_id: str, kind: str, section: str, text: str) -> tuple[tuple[str, str], ...]:
    hit = SearchHit(id=chunk_id, title="", section=section, score=0.0, excerpt="", text=text, kind=kind)
    return tuple((u.text, u.kind) for u in _split_units(hit, 0))


def _split_units(hit: SearchHit, rank: int) -> list[Unit]:
    body = hit.body
    blocks = [b for b in body.split("\n\n") if b.strip()]
    if hit.kind == "faq":
        sentences = []
        for block in blocks:
            lines = block.split("\n")
            if block.strip().startswith("❌"):
                continue  # "❌ Not directly." reads oddly out of its FAQ; the next line says it properly
            if any(_LIST_ITEM.match(ln) for ln in lines):
                sentences.append(_join_block(lines))
            else:
                sentences.extend(_sentence(_lead_to_clause(ln)) for ln in lines)
        text = " ".join(s for s in sentences if s and judge_sentence(s).label != "causal")
        return [Unit(text, hit.id, rank, "faq", hit.section)] if text else []

    units: list[Unit] = []
    previous = ""
    recent: list[str] = []  # every sentence read so far in this chunk, used or not (for "it")

    def add(text: str, kind: str, raw: str = "") -> bool:
        resolved = _resolve_pronoun(text, recent)
        recent.append(text)
        if resolved is None or not _usable(resolved) or _FILLER.match(clean(raw or text)):
            return False
        sentence = _sentence(resolved)
        if kind == "sentence" and _SUMMARY.match(sentence):
            kind = "summary"
        units.append(Unit(sentence, hit.id, rank, kind, hit.section))
        return True

    for lines in _segments(blocks):
        has_list = any(_LIST_ITEM.match(ln) for ln in lines)
        if has_list or (len(lines) > 1 and lines[0].rstrip().endswith(":")):
            lead = _lead_to_clause(lines[0])
            text = _join_block(lines)
            if re.search(r"\b(not simply|traditional|assume|believing|question is not)\b", lead, re.I) or \
                    re.search(r"\b(more than simply|not simply)\b", text, re.I):
                recent.append(text)
                previous = ""
                continue  # the belief AQ argues against, or a rhetorical set-up
            if _needs_more(lines):
                recent.append(text)
                previous = ""
                continue  # the sentence goes on in a part we do not have
            if re.match(r"^for example\b", lead, re.I) and previous:
                text = f"{_sentence(_lead_to_clause(previous))} {text}"
            add(text, "list" if has_list else "sentence")
            previous = ""
            continue
        for line in lines:
            for s in re.split(r"(?<=[.!…])\s+(?=[A-Z🔥👉“\"])", line):
                if s.strip().endswith(":"):
                    continue
                if add(_lead_to_clause(s), "sentence", s):
                    previous = s
    return units


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / max(1, len(a | b))


@dataclass
class Composition:
    text: str
    trace: list[tuple[str, str]]     # (sentence, chunk id); connective text has chunk id ""


def _open_for(intent: Intent, question: str) -> str:
    if intent.kind == "doctrine":
        if re.search(r"\b(train|work on|improve|practice|drills?|should i)\b", question, re.I):
            return "AQ would reframe that question a little."
        # "No" answers only a yes/no question that asks whether coordination is behind speed.
        yes_no = re.match(r"^\s*(is|are|does|do|did|can|could|will|would|isn'?t|doesn'?t|aren'?t)\b", question, re.I)
        causal = re.search(r"\b(cause\w*|reason|key|secret|make\w*|explain\w*|behind|drives?|why|faster|speed)\b", question, re.I)
        return "Not in AQ's view, no." if yes_no and causal else ""
    if intent.kind == "injection":
        return "I'll stay with what AQ actually teaches."
    if intent.kind == "training":
        return "Here's where AQ would point your training."
    if intent.kind == "term" and intent.terms:
        return ""
    return ""


class Composer:
    """Compose an answer from retrieved chunks; deterministic, offline, traceable."""

    name = "composer"

    def __init__(self, glossary: Glossary | None = None, max_units: int = 4, max_chars: int = 1100) -> None:
        self.glossary = glossary or Glossary([])
        self.max_units = max_units
        self.max_chars = max_chars

    def _score(self, units: list[Unit], question: str, intent: Intent) -> None:
        query = set(tokenize(question))
        for term in intent.terms:
            query |= set(tokenize(term))
        named = [t.lower().replace("-", " ") for t in intent.terms]
        wants_training = intent.kind == "doctrine" and re.search(
            r"\b(train\w*|improv\w*|drills?|work on|practi[cs]e\w*|exercis\w*)\b", question, re.I)
        for u in units:
            u.tokens = set(tokenize(u.text))
            u.overlap = overlap = len(query & u.tokens)
            u.score = overlap / (1 + len(u.tokens) ** 0.5) + 1.0 / (2 + u.rank)
            if u.kind == "faq":
                u.score += 0.35
            elif u.kind == "summary":
                u.score += 0.25
            elif u.kind == "list":
                u.score += 0.15
            if intent.kind == "training" and ("training" in u.section.lower() or "need to" in u.text):
                u.score += 0.8
            elif wants_training and ("need to" in u.text or u.text.startswith("AQ focuses on")):
                u.score += 0.7  # "will improving my coordination make me faster?": say what AQ would train instead
            if intent.kind == "feel":
                off = "off" in u.section.lower() or "disrupt" in u.text.lower()
                u.score += 0.4 if (off == (intent.feel == "bad")) else -0.2
            if intent.kind == "term" and any(t in u.text.lower().replace("-", " ") for t in named[:1]):
                u.score += 0.8
            if intent.kind in ("doctrine", "injection") and re.search(r"coordination as the athlete|description of the result|label for", u.text, re.I):
                u.score += 0.6

    def _select(self, units: list[Unit]) -> list[Unit]:
        chosen: list[Unit] = []
        total = 0
        for u in sorted(units, key=lambda x: (-x.score, x.rank)):
            if any(_jaccard(u.tokens, c.tokens) > 0.5 or u.text == c.text for c in chosen):
                continue
            if total + len(u.text) > self.max_chars and chosen:
                continue
            if len(chosen) >= 2 and u.overlap == 0:
                continue  # enough said: a unit sharing no word with the question only pads the answer
            chosen.append(u)
            total += len(u.text)
            if len(chosen) >= self.max_units:
                break
        return chosen

    def compose(self, question: str, hits: list[SearchHit], intent: Intent) -> Composition:
        units = [u for rank, hit in enumerate(hits) for u in units_from_hit(hit, rank)]
        self._score(units, question, intent)
        chosen = self._select(units)
        trace: list[tuple[str, str]] = []
        parts: list[str] = []

        def say(text: str, chunk_id: str = "") -> None:
            parts.append(text)
            trace.append((text, chunk_id))

        if not chosen:
            text = ("I couldn't find anything in AQ's articles that answers that. I can talk about how sprinting "
                    "feels and what AQ says happens underneath: the pushing side, the swing side, contributor timing "
                    "and sprint-system continuity.")
            return Composition(text, [(text, "")])

        opener = _open_for(intent, question)
        if intent.kind == "term":
            # The terms the question names, most specific first ("swing-side thrust", not the "swing
            # side" inside it), in the intent's order (a follow-up's own term leads).
            named = set(named_terms(question, self.glossary))
            asked = [t for t in intent.terms if t in named] or intent.terms[:1]
            for name in asked[:2]:
                term = self.glossary.get(name)
                if term:
                    lead = "In AQ's terms," if not any(c.startswith("glossary:") for _, c in trace) else "And"
                    article = " the" if term.term.endswith("side") else ""
                    say(f"{lead}{article} **{term.term}** is {term.definition[0].lower() + term.definition[1:]}", f"glossary:{term.term}")
        if opener:
            say(opener)

        cited: list[str] = []

        def cite(u: Unit) -> None:
            """A content unit, with [n] pointing at its source chunk (numbered in order of first use)."""
            if u.chunk_id not in cited:
                cited.append(u.chunk_id)
            # "For example, …" pointed at the article's previous sentence, which the answer may not
            # have (or not just before): the example reads as well on its own.
            text = re.sub(r"^For example, (\w)", lambda m: m.group(1).upper(), u.text)
            say(f"{text} [{cited.index(u.chunk_id) + 1}]", u.chunk_id)

        if intent.kind == "feel":
            felt, under = self._split_feel(units, chosen, question)
            say("**What you're feeling:**")
            cite(felt)
            say("**What AQ says may be " + ("disrupted" if intent.feel == "bad" else "improving") + " underneath:**")
            for u in under:
                cite(u)
        else:
            for u in chosen:
                cite(u)
        text = "\n\n".join(parts)
        return Composition(text, trace)

    def _split_feel(self, units: list[Unit], chosen: list[Unit], question: str) -> tuple[Unit, list[Unit]]:
        """The unit that best names what the athlete feels, and the ones about what lies underneath."""
        feel_words = set(tokenize(question)) | set(tokenize("feel feels feeling felt"))

        def felt_score(u: Unit) -> float:
            describes = len(u.tokens & feel_words) + (1 if re.search(r"\bfeel", u.text, re.I) else 0)
            underneath = 1 if re.search(r"\b(may (stop|begin|be)|swing side|pushing side|contributor timing)\b", u.text, re.I) else 0
            return describes - underneath + u.score / 4

        felt = max(units, key=felt_score)
        under = [u for u in chosen if u is not felt and not (u.tokens and _jaccard(u.tokens, felt.tokens) > 0.5)][:3]
        return felt, under
