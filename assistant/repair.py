"""Repair the encoding damage of the seed articles: UTF-8 that was decoded as ISO-8859-7, bytes lost.

`’` arrives as `β`, `👉` as `π`, and so on. ftfy cannot undo that (the lost bytes are gone), so we
invert the damage model over a generic character inventory and let context choose between the
candidates, reporting what could not be decided.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

from .headings import HEADING_MARKERS, NEUTRAL_HEADING, heading_text
from .text import NEGATION

# Damage model: UTF-8 bytes were read as ISO-8859-7, bytes 0x80–0x9F (C1 controls there) and
# bytes undefined in ISO-8859-7 were lost. So a character survives as the ISO-8859-7 reading of
# its remaining bytes: ’ (E2 80 99) → `β`, 🔥 (F0 9F 94 A5) → `π₯`. The repair inverts that
# model over a generic inventory of characters, then lets context choose between candidates.

_NBSP, _SHY, _VS16 = "\u00a0", "\u00ad", "\ufe0f"
# What ISO-8859-7 bytes 0xA0–0xFF decode to; NBSP and SHY are whitespace, never a damaged lead.
_ISO_UPPER = bytes(range(0xA0, 0x100)).decode("iso8859_7", errors="ignore")
DAMAGE_ALPHABET = frozenset(_ISO_UPPER) - {_NBSP, _SHY}
# Greek script (and ₯) never stands for itself in English text: left over, it is damage.
_GREEK = "".join(sorted(c for c in DAMAGE_ALPHABET if "\u0370" <= c <= "\u03ff" or c == "₯"))
MOJIBAKE_RESIDUE = re.compile(f"[{re.escape(_GREEK)}]")

_INVENTORY = ((0x00A0, 0x0100), (0x2000, 0x2070), (0x2190, 0x27C0), (0x2B00, 0x2C00), (0x1F300, 0x1FB00))
# A small general-typography prior, most likely first within one damaged form: characters
# common in web articles (not chat emoji). Text-default symbols are listed with VS16, as they
# are written as emoji; that is how `β‘οΈ` reads ➡️ while bare `β‘` reads ⚡.
_PRIOR = ["\u00a0", "•", "…", "»", "«", "×", "°", "©", "®", "™", "✅", "❌", "❓", "❗", "⚠️", "⭐", "✨",
          "⚡", "➡️", "⬅️", "⬆️", "⬇️", "✔️", "👉", "👇", "🔥", "💯", "💪", "🎯", "🚀", "💡", "🚨", "💥",
          "🧠", "🛠️", "📌", "📈", "🏆", "🏁", "🧭", "🙌", "👀", "👍", "🙏"]
_RANK = {ch: i for i, ch in enumerate(_PRIOR)}
POINTER = "👉"
_YES, _NO = {"yes", "yep", "yeah", "correct", "absolutely"}, {"no", "not", "nope", "never"}


def damage(ch: str) -> str:
    """The damaged form of `ch` (one character or a short sequence), per the damage model."""
    out = []
    for byte in ch.encode("utf-8"):
        if not 0x80 <= byte <= 0x9F:
            out.append(bytes([byte]).decode("iso8859_7", errors="ignore"))
    return "".join(out)


def _key(form: str) -> str:
    # The source pages turned NBSP into a plain space (collapsed with its neighbours) and dropped
    # soft hyphens, so 🧠 (…A7 A0) reads `π§ ` = `π§`, and 🛠️ reads `π οΈ`.
    return form.replace(_SHY, "").replace(_NBSP, " ").rstrip(" ")


@cache
def candidates_map() -> dict[str, tuple[str, ...]]:
    """Damaged form → the candidate characters (or char+VS16 sequences) it may stand for."""
    singles = [chr(cp) for lo, hi in _INVENTORY for cp in range(lo, hi)
               if unicodedata.category(chr(cp)) not in ("Cn", "Cc", "Cs", "Co")]
    inverse: dict[str, list[str]] = {}
    for cand in singles + [c + _VS16 for c in singles] + [_VS16]:
        form = _key(damage(cand))
        if form and form != cand and any(c in DAMAGE_ALPHABET for c in form):
            inverse.setdefault(form, []).append(cand)
    return {form: tuple(cands) for form, cands in inverse.items()}


def candidates(form: str) -> tuple[str, ...]:
    return candidates_map().get(form, ())


def _segment(line: str) -> list[tuple[int, int, bool]]:
    """Split a line into (start, end, damaged) pieces: fewest pieces over the damage runs.

    A damage character that is not Greek may stand for itself (a genuine ’ or »), at a cost that
    makes any fitting damaged form win; a Greek letter standing for itself is residue.
    """
    inverse, longest = candidates_map(), max(map(len, candidates_map()))
    best: list[tuple[float, int, bool]] = [(0.0, 0, False)] + [(float("inf"), 0, False)] * len(line)
    for i, ch in enumerate(line):
        cost = best[i][0]
        if ch not in DAMAGE_ALPHABET:
            best[i + 1] = min(best[i + 1], (cost, i, False))
            continue
        self_cost = 100.0 if ch in _GREEK else 1.5
        best[i + 1] = min(best[i + 1], (cost + self_cost, i, False))
        for j in range(i + 1, min(len(line), i + longest) + 1):
            if line[i:j] in inverse and cost + 1 < best[j][0]:
                best[j] = (cost + 1, i, True)
    pieces, end = [], len(line)
    while end:
        _, start, damaged = best[end]
        pieces.append((start, end, damaged))
        end = start
    return pieces[::-1]


def _prior_best(cands: tuple[str, ...]) -> str:
    # Unranked candidates keep inventory order (lowest code point first) as a last resort.
    return min(cands, key=lambda c: (_RANK.get(c, len(_RANK)), cands.index(c)))


@dataclass
class RepairReport:
    text: str
    repairs: int = 0
    ambiguous: int = 0
    ambiguous_lines: list[str] = field(default_factory=list)
    residue: int = 0


@dataclass
class _Line:
    """One line being repaired, with what context rules need to see."""

    raw: str
    lead: str  # the repaired line that introduces this one (lists skip their marked siblings)
    out: str = ""
    marked: bool = False  # began with a lone-`β` line mark
    dropped: bool = False  # that mark could not be decided, so it was dropped


def _line_mark(rest: str, lead: str) -> str | None:
    """✅ / ❌ / ❓ for a lone `β` at line start, or None when context does not decide.

    ✅ and ❌ share one damaged form; guessing would invert the meaning, so only decide when
    (c) it marks a Question heading, (b) the text opens with a yes/no word, or (a) a lead line
    ending in ":" introduces it and the lead (or the marked statement) is negated.
    """
    if heading_text(f"{NEUTRAL_HEADING} {rest}") and re.search(r"\bQuestions?\b", rest):
        return "❓"
    first = re.match(r"([A-Za-z]+)[^.!?,;]*", rest)
    if first and len(first.group(0).split()) <= 3:
        word = first.group(1).lower()
        if word in _NO:
            return "❌"
        if word in _YES:
            return "✅"
    if lead.rstrip().endswith(":") and (NEGATION.search(lead) or NEGATION.search(rest)):
        return "❌"
    return None


def _lone_b(line: _Line, start: int, end: int) -> str | None:
    """A lone `β`: ’ “ ” — or a line mark, read from the characters around it."""
    prev = line.out[-1:] if line.out else ""
    nxt = line.raw[end:end + 1]
    if not line.raw[:start].strip() and nxt.isspace():
        line.marked = True
        return _line_mark(line.raw[end:].strip(), line.lead)
    if prev.isalnum() and nxt.isalpha():
        return "’"  # athleteβs
    if prev.isspace() and nxt.isspace():
        return "—"  # tidy β upright
    if prev in ("", " ", "\t", "(", "[", "{", "—", "–", "-") and nxt and not nxt.isspace():
        return "“"
    # Closing: a double quote if one is open in this line, else an apostrophe (athletes’ ).
    return "”" if line.out.count("“") > line.out.count("”") else "’"


def _choose(line: _Line, start: int, end: int) -> str | None:
    """The character a damaged piece stands for; None drops it (an undecidable line mark)."""
    form = line.raw[start:end]
    cands = candidates(form)
    if form == "β":
        return _lone_b(line, start, end)
    if len(cands) == 1:
        return cands[0]
    at_start = not line.raw[:start].strip()
    if at_start and heading_text(f"{NEUTRAL_HEADING} {line.raw[end:].strip()}"):
        # A heading position favours readings the parser knows as heading markers; a bare lead
        # byte (`π`) says only "some emoji", so it becomes the neutral heading marker.
        if len(form) == 1:
            return NEUTRAL_HEADING
        return _prior_best(tuple(c for c in cands if c in HEADING_MARKERS) or cands)
    if form == "π":
        return POINTER  # every trailing byte lost: read as the pointer articles use as a marker
    return _prior_best(cands)


def _repair_line(line: _Line) -> int:
    """Fill `line.out`; return how many damaged pieces were repaired."""
    repairs = 0
    for start, end, damaged in _segment(line.raw):
        piece = line.raw[start:end]
        if not damaged:
            if line.dropped and not line.out and piece.isspace():
                continue  # the space that followed a dropped mark
            line.out += piece
            continue
        good = _choose(line, start, end)
        if good is None:
            line.dropped = True
        else:
            line.out += good
            repairs += 1
    return repairs


def repair(text: str) -> RepairReport:
    """Repair ISO-8859-7 mojibake line by line, reporting repairs, ambiguities and residue."""
    import ftfy

    # ftfy first, for ordinary (cp1252/Latin-1) mojibake; it leaves this damage alone.
    text = ftfy.fix_text(text, uncurl_quotes=False, normalization="NFC")
    report = RepairReport(text="")
    out: list[str] = []
    lead = ""
    for raw in text.split("\n"):
        line = _Line(raw=raw, lead=lead)
        report.repairs += _repair_line(line)
        if line.dropped:
            report.ambiguous += 1
            report.ambiguous_lines.append(line.out.strip())
        if line.out.strip() and not line.marked:
            lead = line.out
        out.append(line.out)
    report.text = "\n".join(out).replace(_NBSP, " ")
    report.residue = len(MOJIBAKE_RESIDUE.findall(report.text))
    return report


def repair_text(text: str) -> tuple[str, int]:
    """Repair the mojibake; return the text and how many repairs were made."""
    report = repair(text)
    return report.text, report.repairs
