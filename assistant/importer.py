"""Import a raw AQ article (.txt, .md or .html) into clean Markdown with front matter.

The seed articles are UTF-8 that was decoded as Greek ISO-8859-7 with bytes lost, so `’`
arrives as `β`, `👉` as `π`, and so on. ftfy cannot undo that (the lost bytes are gone), so we
invert the damage model over a generic character inventory and let context choose between the
candidates, reporting what could not be decided. Then we read the article's structure:
breadcrumb, emoji-marked section headings, bullet lines, the FAQ and the navigation block.
"""

from __future__ import annotations

import html
import html.parser
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")


class ImportError_(ValueError):
    """A file that cannot be imported; the message says why, for people."""


# --- encoding repair -------------------------------------------------------------------------
#
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
# A heading emoji whose identity was lost: the parser knows it, the Markdown drops it anyway.
NEUTRAL_HEADING = "🔹"
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|nor|without)\b|n[’']t\b", re.I)
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
    if lead.rstrip().endswith(":") and (_NEGATION.search(lead) or _NEGATION.search(rest)):
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


# --- reading the article's structure ---------------------------------------------------------

HEADING_MARKERS = ("🧠", "⚡", "🚨", "🔥", "🛠️", "🧭", "💪", "🎯", "❓", "👉", NEUTRAL_HEADING)
BULLET_MARKERS = ("•", "👉", "-", "*")
# Sections that are site navigation, not coaching content: kept in the Markdown, never indexed.
NAVIGATION_HEADINGS = re.compile(r"^(You Are Here\b|Ready To Run Faster)", re.I)
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "into", "of", "on", "or", "the", "to", "with"}
_WORD = re.compile(r"[A-Za-z][A-Za-z’'-]*")


def _strip_marker(line: str) -> tuple[str | None, str]:
    for marker in HEADING_MARKERS:
        if line.startswith(marker):
            return marker, line[len(marker):].strip().lstrip("\ufe0f").strip()
    if line and "\U0001F300" <= line[0] <= "\U0001FAFF":
        # Any pictographic emoji may lead a heading (🏁 …); arrows and ✅/❌ lie outside this range.
        return line[0], line[1:].strip().lstrip("\ufe0f").strip()
    return None, line


def _is_title_case(text: str) -> bool:
    """Headings are Title Case ("Why The Stride Feels “Off” Some Days"); prose is not."""
    words = _WORD.findall(text)
    if not words or text.endswith((".", ":", "…")) or len(words) > 16:
        return False
    if text.isupper() and len(words) > 1:
        return False  # shouted nav lines ("WHAT COORDINATION REALLY MEANS …")
    return all(w[0].isupper() or w.lower() in _SMALL_WORDS for w in words) and words[0][0].isupper()


def heading_text(line: str) -> str | None:
    """The section title if this line is an emoji-marked heading, else None."""
    marker, rest = _strip_marker(line.strip())
    if marker is None or not rest:
        return None
    return rest if _is_title_case(rest) else None


@dataclass
class Article:
    title: str
    slug: str
    source: str
    breadcrumb: list[str]
    related: list[dict]
    navigation_sections: list[str]
    sections: list[tuple[str, list[str]]]  # (title, lines) in order
    repairs: int = 0
    faq: list[tuple[str, list[str]]] = field(default_factory=list)


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "article"


def parse_article(text: str, source: str) -> Article:
    """Split repaired text into breadcrumb, sections, FAQ and navigation."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    breadcrumb: list[str] = []
    if lines and "»" in lines[0]:
        breadcrumb = [part.strip() for part in lines.pop(0).split("»") if part.strip()]
    title = breadcrumb[-1] if breadcrumb else ""

    sections: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for line in lines:
        heading = heading_text(line)
        if heading:
            current = (heading, [])
            sections.append(current)
            continue
        if not line.strip():
            continue
        if current is None:
            if not title and not sections:
                title = line.strip().lstrip("#").strip()
                continue
            current = ("Introduction", [])
            sections.append(current)
        current[1].append(line.strip())
    if not title:
        title = sections[0][0] if sections else Path(source).stem

    # Navigation runs from the "You Are Here" heading up to the FAQ (its sub-headings included).
    navigation: list[str] = []
    for name, _ in sections:
        if name.lower().startswith("frequently asked"):
            break
        if navigation or NAVIGATION_HEADINGS.match(name):
            navigation.append(name)
    related = []
    for name, body in sections:
        if name not in navigation:
            continue
        blurb = ""
        for line in body:
            if line.startswith("➡️"):
                related.append({"title": line.removeprefix("➡️").strip(), "about": blurb})
                blurb = ""
            else:
                blurb = line.lstrip("👉").strip()

    faq: list[tuple[str, list[str]]] = []
    for name, body in sections:
        if name.lower().startswith("frequently asked"):
            for line in body:
                if line.endswith("?") and not line.startswith(BULLET_MARKERS):
                    faq.append((line, []))
                elif faq:
                    faq[-1][1].append(line)
    return Article(
        title=title,
        slug=slugify(title),
        source=source,
        breadcrumb=breadcrumb,
        related=related,
        navigation_sections=navigation,
        sections=sections,
        faq=faq,
    )


# --- Markdown output -------------------------------------------------------------------------

def _body_lines(lines: list[str]) -> list[str]:
    """Bullet lines become a Markdown list; every other line is its own paragraph."""
    out: list[str] = []
    in_list = False
    for line in lines:
        bullet = None
        for marker in ("•", "👉"):
            if line.startswith(marker) and not line.startswith("👉🔥"):
                bullet = line[len(marker):].strip()
        if bullet is not None:
            # An HTML <li> whose text also starts with the site's 👉 marker: one item, one marker.
            while bullet.startswith(("•", "👉")) and not bullet.startswith("👉🔥"):
                bullet = bullet[1:].strip()
            if not in_list and out:
                out.append("")
            out.append(f"- {bullet}")
            in_list = True
        else:
            if out:
                out.append("")
            out.append(line)
            in_list = False
    return out


def to_markdown(article: Article) -> str:
    front = {
        "title": article.title,
        "slug": article.slug,
        "source": article.source,
        "breadcrumb": article.breadcrumb,
        "related": article.related,
        "navigation_sections": article.navigation_sections,
    }
    parts = ["---", yaml.safe_dump(front, allow_unicode=True, sort_keys=False).strip(), "---", "", f"# {article.title}", ""]
    for name, body in article.sections:
        parts.append(f"## {name}")
        parts.append("")
        if name.lower().startswith("frequently asked") and article.faq:
            for question, answer in article.faq:
                parts.append(f"### {question}")
                parts.append("")
                parts.extend(_body_lines(answer))
                parts.append("")
        else:
            parts.extend(_body_lines(body))
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


# --- reading input files ---------------------------------------------------------------------

class _HTMLText(html.parser.HTMLParser):
    """HTML → text lines: block elements end a line; scripts, styles and the <title> are dropped.

    The <title> goes too: it sits before the body, so it would become the first line and hide the
    breadcrumb ("Home » … » Title") that names the article.
    """

    SKIP = ("script", "style", "noscript", "title", "template")

    BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "header", "footer", "ul", "ol", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        elif tag == "li" and not self._skip:
            self.parts.append("\n• ")  # a list item stays a list item in the Markdown
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        joined = "".join(self.parts)
        return "\n".join(re.sub(r"[ \t]+", " ", ln).strip() for ln in joined.splitlines())


def read_source(path: Path) -> str:
    """Read a raw article as text, or raise ImportError_ with a message for people."""
    if not path.exists():
        raise ImportError_(f"{path}: no such file")
    if path.is_dir():
        raise ImportError_(f"{path}: is a folder, not an article file")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ImportError_(f"{path}: unsupported file type {path.suffix or '(none)'}; use .txt, .md or .html")
    data = path.read_bytes()
    if b"\x00" in data:
        raise ImportError_(f"{path}: looks like a binary file, not a text article")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{path}: not valid UTF-8 (bad byte at offset {exc.start}); save it as UTF-8 and retry") from None
    if path.suffix.lower() in (".html", ".htm"):
        parser = _HTMLText()
        parser.feed(text)
        text = html.unescape(parser.text())
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    if not text.strip():
        raise ImportError_(f"{path}: the file is empty")
    return text


@dataclass
class ImportResult:
    source: str
    path: str
    title: str
    sections: int
    faq: int
    repairs: int
    ambiguous: int = 0  # line marks dropped because context could not decide (✅ vs ❌)
    residue: int = 0  # damage characters left in the text; 0 for a clean import
    ambiguous_lines: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def import_article(path: Path, corpus_dir: Path) -> ImportResult:
    """Repair and convert one raw article, writing `corpus_dir/<slug>.md` atomically."""
    raw = read_source(path)
    report = repair(raw)
    article = parse_article(report.text, source=path.name)
    article.repairs = report.repairs
    if not any(body for _, body in article.sections):
        raise ImportError_(f"{path}: no article text found")
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir / f"{article.slug}.md"
    tmp = target.with_suffix(".md.tmp")
    tmp.write_text(to_markdown(article), encoding="utf-8")
    tmp.replace(target)  # atomic: a crash never leaves half an article in the corpus
    return ImportResult(
        source=str(path),
        path=str(target),
        title=article.title,
        sections=len(article.sections),
        faq=len(article.faq),
        repairs=report.repairs,
        ambiguous=report.ambiguous,
        residue=report.residue,
        ambiguous_lines=list(report.ambiguous_lines),
    )
