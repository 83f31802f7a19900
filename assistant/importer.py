"""Import a raw AQ article (.txt, .md or .html) into clean Markdown with front matter.

The seed articles are UTF-8 that was decoded as Greek cp1253 with bytes lost, so `’` arrives
as `β`, `👉` as `π`, and so on. ftfy cannot undo that (the lost bytes are gone), so after ftfy
we apply a targeted repair table, then read the article's structure: breadcrumb, emoji-marked
section headings, bullet lines, the FAQ, and the "You Are Here" navigation block.
"""

from __future__ import annotations

import html
import html.parser
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")


class ImportError_(ValueError):
    """A file that cannot be imported; the message says why, for people."""


# --- encoding repair -------------------------------------------------------------------------

# Longest sequences first: they overlap (`β‘οΈ` starts with `β‘`, `ππ₯` with `π`).
# The left side is what survives of the original UTF-8 bytes read as cp1253.
_REPAIR_TABLE: list[tuple[str, str]] = [
    ("β‘οΈΒ", "➡️ "),  # ➡️ followed by a no-break space whose second byte was lost
    ("β‘οΈ", "➡️"),
    ("π οΈ", "🛠️"),
    ("ππ₯", "👉🔥"),
    ("π₯", "🔥"),
    ("π¨", "🚨"),
    ("πͺ", "💪"),
    ("π―", "🎯"),
    ("β’", "•"),
    ("β¦", "…"),
    ("β‘", "⚡"),
    ("Β»", "»"),
    ("οΈ", "\ufe0f"),
]
# `π§` is both 🧠 (Introduction) and 🧭 (You Are Here): the byte that told them apart is lost.
_COMPASS = re.compile(r"^π§(?= You Are Here)", re.M)
_BRAIN = re.compile(r"π§")
_POINTER = re.compile(r"π")
# `β` alone: ❓ before the FAQ heading, ❌ before a phrase at line start, otherwise a quote mark.
_QUESTION_MARK = re.compile(r"^β(?= Frequently Asked Questions)", re.M)
_CROSS = re.compile(r"^β(?= )", re.M)
_LOST_NBSP = re.compile(r"Β(?=\S)")
_APOSTROPHE = re.compile(r"(?<=[A-Za-z0-9])β(?=[A-Za-z])")
_OPEN_QUOTE = re.compile(r"(?:(?<=^)|(?<=[\s(\[{—–-]))β(?=\S)", re.M)
_CLOSE_QUOTE = re.compile(r"β")

# What damage looks like, for tests and for the import report.
MOJIBAKE_RESIDUE = re.compile(r"[βπΒ]|ο¸|οΈ")


def repair_text(text: str) -> tuple[str, int]:
    """Repair cp1253 mojibake; return the text and how many repairs were made."""
    import ftfy

    # uncurl_quotes=False: ftfy would otherwise turn `β’` into `β'` and lose the bullet/⚡ distinction.
    text = ftfy.fix_text(text, uncurl_quotes=False, normalization="NFC")
    count = 0
    for bad, good in _REPAIR_TABLE:
        count += text.count(bad)
        text = text.replace(bad, good)
    for pattern, good in (
        (_COMPASS, "🧭"),
        (_BRAIN, "🧠"),
        (_POINTER, "👉"),
        (_QUESTION_MARK, "❓"),
        (_CROSS, "❌"),
        (_LOST_NBSP, " "),
        (_APOSTROPHE, "’"),
        (_OPEN_QUOTE, "“"),
        (_CLOSE_QUOTE, "”"),
    ):
        text, n = pattern.subn(good, text)
        count += n
    text = text.replace("\u00a0", " ")
    return text, count


# --- reading the article's structure ---------------------------------------------------------

HEADING_MARKERS = ("🧠", "⚡", "🚨", "🔥", "🛠️", "🧭", "💪", "🎯", "❓", "👉")
BULLET_MARKERS = ("•", "👉", "-", "*")
# Sections that are site navigation, not coaching content: kept in the Markdown, never indexed.
NAVIGATION_HEADINGS = re.compile(r"^(You Are Here\b|Ready To Run Faster)", re.I)
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "into", "of", "on", "or", "the", "to", "with"}
_WORD = re.compile(r"[A-Za-z][A-Za-z’'-]*")


def _strip_marker(line: str) -> tuple[str | None, str]:
    for marker in HEADING_MARKERS:
        if line.startswith(marker):
            return marker, line[len(marker):].strip().lstrip("\ufe0f").strip()
    return None, line


def _is_title_case(text: str) -> bool:
    """Headings are Title Case ("Why Sprinting Sometimes Suddenly Feels “Off”"); prose is not."""
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

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def import_article(path: Path, corpus_dir: Path) -> ImportResult:
    """Repair and convert one raw article, writing `corpus_dir/<slug>.md` atomically."""
    raw = read_source(path)
    repaired, repairs = repair_text(raw)
    article = parse_article(repaired, source=path.name)
    article.repairs = repairs
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
        repairs=repairs,
    )
