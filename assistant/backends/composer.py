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

from ..corpus import Glossary
from ..guard import judge_sentence
from ..retrieval import SearchHit, tokenize
from ..scope import Intent

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
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…", "”")) else text + "."


def _join_items(items: list[str]) -> str:
    items = [clean(i).rstrip(".") for i in items if clean(i)]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + (", and " if len(items) > 2 else " and ") + items[-1]


def _usable(sentence: str) -> bool:
    """Never compose from a question, a heading-like fragment, filler, or a sentence the judge would not pass."""
    s = clean(sentence)
    if len(s) < 25 or s.endswith("?") or _FILLER.match(s):
        return False
    first = sentence.strip().lstrip("🔥👉❌ ").split(" ")[0]
    if first.isupper() and first != "AQ" and len(first) > 1:
        return False  # "WHY one athlete is actually faster."
    if s[0].islower():
        return False  # a fragment continuing a lead we do not have
    return judge_sentence(s).label != "causal"


def _lead_to_clause(lead: str) -> str:
    lead = clean(lead).rstrip(":").strip()
    return re.sub(r"^(because|but|and|so)\s+", "", lead, flags=re.I)


_CLAUSE = re.compile(r"\b(may|might|is|are|was|can|could|will|would|begins?|becomes?|feels?|needs?|continues?)\b", re.I)


def _join_block(lines: list[str]) -> str:
    """A lead line, its bullets and any continuation lines, read as one sentence.

    "AQ looks deeper into:" + bullets → "AQ looks deeper into a, b, and c."
    "When athletes suddenly feel:" + bullets → "When athletes suddenly feel a, b and c, …"
    """
    out = ""
    pending_items: list[str] = []

    def flush() -> None:
        nonlocal out, pending_items
        if pending_items:
            # Bullets that are whole clauses ("the swing side may …") follow a lead with a comma;
            # bullets that finish the lead ("AQ looks deeper into" + "swing-side thrust") follow a space.
            first = pending_items[0].strip().lower()
            is_clause = _CLAUSE.search(first) and not first.startswith(("how ", "what ", "why ", "which ", "when "))
            joiner = ", " if is_clause else " "
            out = (out + joiner if out else "") + _join_items(pending_items)
            pending_items = []

    for line in lines:
        if _LIST_ITEM.match(line):
            pending_items.append(line[2:])
            continue
        flush()
        text = clean(line).rstrip(":").strip()
        if not out:
            text = _lead_to_clause(text)
        out = f"{out} {text}".strip() if out else text
    flush()
    return _sentence(out.replace("…", ""))


def units_from_hit(hit: SearchHit, rank: int) -> list[Unit]:
    """Split one chunk into composable units."""
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
    for block in blocks:
        lines = block.split("\n")
        has_list = any(_LIST_ITEM.match(ln) for ln in lines)
        if has_list or (len(lines) > 1 and lines[0].rstrip().endswith(":")):
            lead = _lead_to_clause(lines[0])
            if re.search(r"\b(not simply|traditional|assume|believing|question is not)\b", lead, re.I):
                previous = ""
                continue  # the belief AQ argues against, or a rhetorical set-up
            text = _join_block(lines)
            if re.search(r"\b(more than simply|not simply)\b", text, re.I):
                previous = ""
                continue
            if re.match(r"^for example\b", lead, re.I) and previous:
                text = f"{_sentence(_lead_to_clause(previous))} {text}"
            if _usable(text):
                units.append(Unit(text, hit.id, rank, "list", hit.section))
            previous = ""
            continue
        for line in lines:
            for s in re.split(r"(?<=[.!…])\s+(?=[A-Z🔥👉])", line):
                if s.strip().endswith(":"):
                    continue
                if _usable(s):
                    sentence = _sentence(_lead_to_clause(s))
                    kind = "summary" if _SUMMARY.match(sentence) else "sentence"
                    units.append(Unit(sentence, hit.id, rank, kind, hit.section))
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
        return "Not in AQ's view, no."
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
        named = [t.lower() for t in intent.terms]
        for u in units:
            u.tokens = set(tokenize(u.text))
            overlap = len(query & u.tokens)
            u.score = overlap / (1 + len(u.tokens) ** 0.5) + 1.0 / (2 + u.rank)
            if u.kind == "faq":
                u.score += 0.35
            elif u.kind == "summary":
                u.score += 0.25
            elif u.kind == "list":
                u.score += 0.15
            if intent.kind == "training" and ("training" in u.section.lower() or "need to" in u.text):
                u.score += 0.8
            if re.match(r"^AQ views it\b", u.text):
                u.score -= 0.3  # "it" points back to a sentence we did not keep
            if intent.kind == "feel":
                off = "off" in u.section.lower() or "disrupt" in u.text.lower()
                u.score += 0.4 if (off == (intent.feel == "bad")) else -0.2
            if intent.kind == "term" and any(t in u.text.lower() for t in named[:1]):
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
            for name in intent.terms[:1]:
                term = self.glossary.get(name)
                if term:
                    say(f"In AQ's terms, **{term.term}** is {term.definition[0].lower() + term.definition[1:]}", f"glossary:{term.term}")
        if opener:
            say(opener)

        cited: list[str] = []

        def cite(u: Unit) -> None:
            """A content unit, with [n] pointing at its source chunk (numbered in order of first use)."""
            if u.chunk_id not in cited:
                cited.append(u.chunk_id)
            text = u.text
            if not any(cid for _, cid in trace):  # "For example, …" cannot open an answer
                text = re.sub(r"^For example, (\w)", lambda m: m.group(1).upper(), text)
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
