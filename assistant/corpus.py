"""Load the imported corpus (Markdown with front matter) and the AQ glossary."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .text import normalise, stem_words

FAQ_SECTION = "Frequently Asked Questions"


@dataclass
class Section:
    title: str
    lines: list[str]                       # Markdown body lines, blank lines kept
    faq: list[tuple[str, list[str]]] = field(default_factory=list)  # (question, answer lines)
    navigation: bool = False


@dataclass
class Article:
    slug: str
    title: str
    source: str
    path: Path
    sections: list[Section]
    front_matter: dict


def related_articles(articles: list[Article]) -> list[tuple[str, str]]:
    """(title, about) of the AQ articles the corpus's articles link to but the corpus lacks."""
    have = {a.title.strip().lower() for a in articles}
    out: dict[str, tuple[str, str]] = {}
    for article in articles:
        for item in article.front_matter.get("related") or []:
            title = str(item.get("title") or "").strip() if isinstance(item, dict) else ""
            if title and title.lower() not in have:
                out.setdefault(title.lower(), (title, str(item.get("about") or "").strip()))
    return list(out.values())


class CorpusError(ValueError):
    """The corpus cannot be read; the message says why."""


_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def read_yaml(text: str):
    """YAML's safe subset, through libyaml when PyYAML has it (several times faster: `serve` reads
    the glossary and the doctrine while it starts)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def parse_markdown(text: str, path: Path) -> Article:
    front: dict = {}
    match = _FRONT.match(text)
    if match:
        try:
            front = read_yaml(match.group(1)) or {}
        except yaml.YAMLError:
            front = {}
        if not isinstance(front, dict):
            front = {}
        text = text[match.end():]
    nav = front.get("navigation_sections")
    navigation = {str(n) for n in nav} if isinstance(nav, list) else set()
    title = str(front.get("title") or "")
    sections: list[Section] = []
    for line in text.splitlines():
        if line.startswith("# ") and not title:
            title = line[2:].strip()
        elif line.startswith("# "):
            continue
        elif line.startswith("## "):
            name = line[3:].strip()
            sections.append(Section(name, [], navigation=name in navigation))
        elif line.startswith("### ") and sections:
            sections[-1].faq.append((line[4:].strip(), []))
        elif sections and sections[-1].faq:
            sections[-1].faq[-1][1].append(line)
        else:
            if not sections:
                if not line.strip():
                    continue
                sections.append(Section("Introduction", []))
            sections[-1].lines.append(line)
    title = title or path.stem
    slug = str(front.get("slug") or path.stem)
    return Article(slug, title, str(front.get("source") or path.name), path, sections, front)


def load_corpus(corpus_dir: Path) -> tuple[list[Article], list[str]]:
    """Every readable `*.md` article in the folder, plus warnings for files that were skipped."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; import an article with `aq-coach import PATH`")
    articles: list[Article] = []
    warnings: list[str] = []
    for path in sorted(corpus_dir.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        if path.suffix.lower() != ".md":
            if path.suffix.lower() not in (".yaml", ".yml"):
                warnings.append(f"skipped {path.name}: not a Markdown article (import raw files with `aq-coach import`)")
            continue
        if path.name.lower() == "readme.md":
            continue
        data = path.read_bytes()
        if b"\x00" in data:
            warnings.append(f"skipped {path.name}: binary file")
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            warnings.append(f"skipped {path.name}: not valid UTF-8")
            continue
        article = parse_markdown(text, path)
        if not any(s.lines or s.faq for s in article.sections):
            warnings.append(f"skipped {path.name}: no article text")
            continue
        articles.append(article)
    return articles, warnings


# --- glossary ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    term: str
    definition: str
    everyday: tuple[str, ...] = ()
    related: tuple[str, ...] = ()


@dataclass
class Glossary:
    terms: list[Term]

    def __iter__(self):
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def get(self, name: str) -> Term | None:
        name = name.lower().strip()
        return next((t for t in self.terms if t.term.lower() == name), None)

    def terms_in(self, text: str) -> list[Term]:
        """AQ terms named in the text (hyphen/space-insensitive)."""
        norm = normalise(text)
        return [t for t in self.terms if normalise(t.term) in norm]

    def expansions(self, text: str) -> list[Term]:
        """Terms whose everyday words (arms, rhythm, "feels off" …) appear in the text.

        Words are compared stemmed, so "my arm feels off", "feeling off" and "pushing off" find
        the entries "arms", "feels off" and "push off".
        """
        norm = f" {_stemmed(text)} "
        if getattr(self, "_everyday_stems", None) is None:  # stem the glossary once, not per query
            self._everyday_stems = [(t, [f" {_stemmed(w)} " for w in t.everyday]) for t in self.terms]
        return [t for t, stems in self._everyday_stems if any(w in norm for w in stems)]


    def likeliest_term(self, text: str) -> Term | None:
        """The term an everyday word in the text most likely means ("is rhythm the same as…?"): of the
        terms whose everyday words appear, the one listing such a word earliest (glossary.yaml lists
        them most typical first)."""
        norm = f" {_stemmed(text)} "
        self.expansions("")  # the stemmed everyday words, made once
        ranked = [(next((i for i, w in enumerate(stems) if w in norm), None), n, t)
                  for n, (t, stems) in enumerate(self._everyday_stems)]
        found = [(i, n, t) for i, n, t in ranked if i is not None]
        return min(found, key=lambda x: (x[0], x[1]))[2] if found else None


def _stemmed(text: str) -> str:
    """The text normalised, split at apostrophes, each word Snowball-stemmed."""
    return " ".join(stem_words(re.findall(r"[a-z0-9]+", normalise(text))))


def load_glossary(path: Path) -> Glossary:
    if not path.exists():
        return Glossary([])
    try:
        data = read_yaml(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorpusError(f"glossary {path} is not valid YAML: {exc}") from None
    terms = []
    for item in data.get("terms", []) if isinstance(data, dict) else []:
        if not isinstance(item, dict) or not item.get("term"):
            continue
        terms.append(
            Term(
                term=str(item["term"]),
                definition=str(item.get("definition", "")),
                everyday=tuple(str(w) for w in item.get("everyday", []) or []),
                related=tuple(str(w) for w in item.get("related", []) or []),
            )
        )
    return Glossary(terms)


# --- doctrine ----------------------------------------------------------------------------------

def load_doctrine(path: Path) -> dict:
    """corpus/doctrine.yaml: AQ's doctrine statement, fixed queries and markers (see the file)."""
    if not path.exists():
        return {}
    try:
        data = read_yaml(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorpusError(f"doctrine {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"doctrine {path} must be a mapping of fields")
    return data
