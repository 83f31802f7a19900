"""Import a raw AQ article (.txt, .md or .html) into clean Markdown with front matter.

The raw text is read (HTML reduced to text lines), its encoding damage repaired (repair.py), and
then its structure read: breadcrumb, emoji-marked section headings (headings.py), bullet lines,
the FAQ and the navigation block.
"""

from __future__ import annotations

import html
import html.parser
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .headings import heading_text
from .repair import repair
from .repair import repair_text as repair_text

if TYPE_CHECKING:
    from .doctrine import Doctrine

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")


class ImportError_(ValueError):
    """A file that cannot be imported; the message says why, for people."""


# --- reading the article's structure ---------------------------------------------------------

BULLET_MARKERS = ("•", "👉", "-", "*")


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


def _split_sections(lines: list[str], title: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """The (title, lines) sections under the headings; text before any heading is the Introduction,
    or the title when there is neither a breadcrumb title nor a section yet."""
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
    return title, sections


def _navigation(sections: list[tuple[str, list[str]]], doctrine: Doctrine) -> list[str]:
    """Site navigation, not coaching content (kept in the Markdown, never indexed): it runs from the first
    heading the doctrine's navigation_headings match up to the FAQ (the headings after it included)."""
    navigation: list[str] = []
    for name, _ in sections:
        if name.lower().startswith("frequently asked"):
            break
        if navigation or doctrine.navigation_headings.match(name):
            navigation.append(name)
    return navigation


def _related(sections: list[tuple[str, list[str]]], navigation: list[str]) -> list[dict]:
    """The ➡️ links of the navigation sections, each with the line before it as its blurb."""
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
    return related


def _faq(sections: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """The FAQ's (question, answer lines): a question is a line ending in "?" that is not a bullet."""
    faq: list[tuple[str, list[str]]] = []
    for name, body in sections:
        if name.lower().startswith("frequently asked"):
            for line in body:
                if line.endswith("?") and not line.startswith(BULLET_MARKERS):
                    faq.append((line, []))
                elif faq:
                    faq[-1][1].append(line)
    return faq


def parse_article(text: str, source: str, doctrine: Doctrine) -> Article:
    """Split repaired text into breadcrumb, sections, FAQ and navigation (the doctrine names its headings)."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    breadcrumb: list[str] = []
    if lines and "»" in lines[0]:
        breadcrumb = [part.strip() for part in lines.pop(0).split("»") if part.strip()]
    title, sections = _split_sections(lines, breadcrumb[-1] if breadcrumb else "")
    if not title:
        title = sections[0][0] if sections else Path(source).stem
    navigation = _navigation(sections, doctrine)
    return Article(
        title=title,
        slug=slugify(title),
        source=source,
        breadcrumb=breadcrumb,
        related=_related(sections, navigation),
        navigation_sections=navigation,
        sections=sections,
        faq=_faq(sections),
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


def import_article(path: Path, corpus_dir: Path, doctrine: Doctrine) -> ImportResult:
    """Repair and convert one raw article, writing `corpus_dir/<slug>.md` atomically; the corpus's
    doctrine names the navigation headings."""
    raw = read_source(path)
    report = repair(raw)
    article = parse_article(report.text, source=path.name, doctrine=doctrine)
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
